/**
 * Every built-in stage, and the registry the spec compiler, `clipflow schema` and the CLI use. Adding a stage = one
 * file in this folder exporting a `defineStage(...)` factory, plus one line here.
 */
import { trainSection } from "../models/config.ts";
import { compileSpec, createRegistry, parseSpec, specJsonSchema, type PipelineSpec } from "../core/spec.ts";
import type { AnyStageFactory } from "../core/stage.ts";
import { batch } from "./batch.ts";
import { blur } from "./blur.ts";
import { colourJitter } from "./colourJitter.ts";
import { decode } from "./decode.ts";
import { dilatedSample } from "./dilatedSample.ts";
import { flowCache } from "./flowCache.ts";
import { flowPair } from "./flowPair.ts";
import { gvf } from "./gvf.ts";
import { listSource } from "./listSource.ts";
import { normalize } from "./normalize.ts";
import { rotate } from "./rotate.ts";
import { segmentSample } from "./segmentSample.ts";
import { shards } from "./shards.ts";
import { shuffle } from "./shuffle.ts";
import { spatialAugment } from "./spatialAugment.ts";
import { tca } from "./tca.ts";
import { temporalTriplet } from "./temporalTriplet.ts";
import { videos } from "./videos.ts";

export { batch, blur, colourJitter, decode, dilatedSample, flowCache, flowPair, gvf, listSource, normalize, rotate, segmentSample, shards, shuffle, spatialAugment, tca, temporalTriplet, videos };

export const builtinStages: AnyStageFactory[] = [videos, shards, listSource, decode, flowCache, flowPair, dilatedSample, temporalTriplet, segmentSample, rotate, spatialAugment, colourJitter, blur, gvf, shuffle, batch, normalize, tca] as unknown as AnyStageFactory[];

/** Stages plus the `train` section of pretraining specs (zod only: loading it does not load TensorFlow.js). */
export const registry = createRegistry(builtinStages, { train: trainSection.optional() });

export const parsePipelineSpec = (raw: unknown): PipelineSpec => parseSpec(registry, raw);
export const compilePipelineSpec = (raw: unknown) => compileSpec(registry, raw);
export const pipelineJsonSchema = () => specJsonSchema(registry);
