export { batchNormForward, batchNormBackward } from "./batchNorm";
export { maxPoolForward, maxPoolBackward } from "./maxPool";
