/**
 * Small real videos for tests, made once per process in a temporary folder with the project's own synthesizer and
 * ffmpeg (@ffmpeg-installer's binary): a 3-class "actions" set (64×48, 1 s, 30 fps, 2 groups of 2 clips per class).
 */
import { join } from "node:path";
import { synthesize } from "../../src/io/synth.ts";
import { tempDir } from "./tempDir.ts";

let actions: Promise<string> | undefined;

export function tinyActions(): Promise<string> {
  actions ??= (async () => {
    const dir = join(tempDir("clipflow-videos-"), "actions");
    await synthesize({ out: dir, kind: "actions", videos: 12, seed: 11, width: 64, height: 48, seconds: 1, classes: 3 });
    return dir;
  })();
  return actions;
}
