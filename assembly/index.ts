export { batchNormForward, batchNormBackward, batchNormForwardPlanar, batchNormBackwardPlanar } from "./batchNorm";
export { maxPoolForward, maxPoolBackward } from "./maxPool";
export { adamStep, sgdStep, blend } from "./optimizers";
