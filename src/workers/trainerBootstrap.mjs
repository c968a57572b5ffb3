// Entry of the trainer thread: registers tsx's loader in this thread (module hooks do not reach worker threads under
// Node 20), then runs the TypeScript trainer worker.
import { register } from "tsx/esm/api";

register();
await import("../models/trainerWorker.ts");
