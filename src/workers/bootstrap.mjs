// Loads the TypeScript worker entry inside a worker thread: registers tsx's loader in this thread (module hooks of the
// parent thread do not reach worker threads under Node 20), then hands piscina the handler.
import { register } from "tsx/esm/api";

register();
const entry = await import("./kernelWorker.ts");
export default entry.default;
