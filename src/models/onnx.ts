/**
 * Small ONNX graphs as bytes, for ONNX Runtime to run (src/models/ortConv.ts). Only the part of onnx.proto those
 * graphs use is declared (field numbers as in the ONNX spec, IR version 8, opset 17); protobufjs does the encoding.
 * Pure: a graph description in, a serialised ModelProto out.
 */
import protobuf from "protobufjs";

/** ONNX element types used here (TensorProto.DataType). */
export const FLOAT = 1;
export const INT64 = 7;

export type Attribute = { ints: number[] } | { int: number } | { float: number } | { string: string };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, Attribute>;
}

export interface OnnxValue {
  name: string;
  shape: number[];
  type?: typeof FLOAT | typeof INT64;
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  /** Constant int64 tensors (Slice's starts, Reshape's shape, Pad's pads). */
  constants?: Record<string, number[]>;
}

const schema = {
  nested: {
    onnx: {
      nested: {
        ModelProto: { fields: { irVersion: { type: "int64", id: 1 }, producerName: { type: "string", id: 2 }, graph: { type: "GraphProto", id: 7 }, opsetImport: { rule: "repeated", type: "OperatorSetIdProto", id: 8 } } },
        OperatorSetIdProto: { fields: { domain: { type: "string", id: 1 }, version: { type: "int64", id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: "repeated", type: "NodeProto", id: 1 },
            name: { type: "string", id: 2 },
            initializer: { rule: "repeated", type: "TensorProto", id: 5 },
            input: { rule: "repeated", type: "ValueInfoProto", id: 11 },
            output: { rule: "repeated", type: "ValueInfoProto", id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: "repeated", type: "string", id: 1 },
            output: { rule: "repeated", type: "string", id: 2 },
            name: { type: "string", id: 3 },
            opType: { type: "string", id: 4 },
            attribute: { rule: "repeated", type: "AttributeProto", id: 5 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: "string", id: 1 },
            f: { type: "float", id: 2 },
            i: { type: "int64", id: 3 },
            s: { type: "bytes", id: 4 },
            ints: { rule: "repeated", type: "int64", id: 8 },
            type: { type: "int32", id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: "repeated", type: "int64", id: 1 },
            dataType: { type: "int32", id: 2 },
            int64Data: { rule: "repeated", type: "int64", id: 7 },
            name: { type: "string", id: 8 },
          },
        },
        ValueInfoProto: { fields: { name: { type: "string", id: 1 }, type: { type: "TypeProto", id: 2 } } },
        TypeProto: { fields: { tensorType: { type: "TensorTypeProto", id: 1 } } },
        TensorTypeProto: { fields: { elemType: { type: "int32", id: 1 }, shape: { type: "TensorShapeProto", id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: "repeated", type: "Dimension", id: 1 } } },
        Dimension: { fields: { dimValue: { type: "int64", id: 1 } } },
      },
    },
  },
};

const ModelProto = protobuf.Root.fromJSON(schema).lookupType("onnx.ModelProto");

/** AttributeProto.AttributeType values. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function attribute(name: string, value: Attribute): object {
  if ("ints" in value) return { name, ints: value.ints, type: ATTR_INTS };
  if ("int" in value) return { name, i: value.int, type: ATTR_INT };
  if ("string" in value) return { name, s: new TextEncoder().encode(value.string), type: ATTR_STRING };
  return { name, f: value.float, type: ATTR_FLOAT };
}

function valueInfo(value: OnnxValue): object {
  return { name: value.name, type: { tensorType: { elemType: value.type ?? FLOAT, shape: { dim: value.shape.map((d) => ({ dimValue: d })) } } } };
}

/** Serialises a graph as an ONNX ModelProto (IR 8, default domain at opset 17). */
export function onnxModel(graph: OnnxGraph): Uint8Array {
  const message = ModelProto.fromObject({
    irVersion: 8,
    producerName: "clipflow",
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "clipflow",
      node: graph.nodes.map((n, i) => ({
        input: n.inputs,
        output: n.outputs,
        name: `${n.op}_${i}`,
        opType: n.op,
        attribute: Object.entries(n.attributes ?? {}).map(([name, value]) => attribute(name, value)),
      })),
      initializer: Object.entries(graph.constants ?? {}).map(([name, values]) => ({ name, dims: [values.length], dataType: INT64, int64Data: values })),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  });
  return ModelProto.encode(message).finish();
}
