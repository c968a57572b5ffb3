// Entry of a trainer replica thread: registers tsx's loader in this thread (module hooks do not reach worker threads
// under Node 20), then runs the TypeScript replica.
import { register } from "tsx/esm/api";

register();
await import("../models/replicaWorker.ts");
