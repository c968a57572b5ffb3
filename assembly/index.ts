export { batchNormForward, batchNormBackward } from "./batchNorm";
export { maxPoolForward, maxPoolBackward } from "./maxPool";
export { adamStep, sgdStep, blend } from "./optimizers";
