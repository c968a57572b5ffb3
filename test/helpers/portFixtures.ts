/**
 * Inputs for each port, for tests that run every registered stage (e.g. the inline-vs-worker matrix). A port whose
 * inputs need files (video) gets them from `prepare`, which may create fixtures in a temporary folder.
 */
import type { PortName, PortTypes } from "../../src/core/types.ts";
import { stackSamples } from "../../src/stages/batch.ts";
import { randomSample } from "./context.ts";
import { listFolder } from "../../src/io/datasets.ts";
import { tinyActions } from "./videoFixtures.ts";

export interface PortFixture<P extends PortName> {
  prepare(): Promise<PortTypes[P][]>;
}

export const portFixtures: { [P in PortName]?: PortFixture<P> } = {
  video: {
    // 1 s videos with a background gap then an action, for stages that read segments (segmentSample); others ignore them.
    prepare: async () =>
      listFolder(await tinyActions())
        .videos.slice(0, 6)
        .map((video) => ({
          ...video,
          segments: [
            { start: 0, end: 0.45, label: -1, region: "No action" as const },
            { start: 0.45, end: 1, label: video.label ?? 0, region: "Action" as const },
          ],
        })),
  },
  sample: {
    prepare: async () => Array.from({ length: 6 }, (_, i) => randomSample(`s${i}`, [4, 12, 16, 3], ["rgb", "flow"])),
  },
  batch: {
    prepare: async () => [0, 1].map((b) => stackSamples([0, 1, 2].map((i) => randomSample(`b${b}s${i}`, [4, 12, 16, 3])))),
  },
};
