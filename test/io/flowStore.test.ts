import assert from "node:assert/strict";
import { readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import sharp from "sharp";
import { flowCacheKey, flowVideoDir, readFlowFrames, readFlowMeta, writeFlowVideo, type FlowCacheParams, type FlowFormat, type FlowMeta } from "../../src/io/flowStore.ts";
import { tempDir } from "../helpers/tempDir.ts";

const [H, W] = [6, 10];
/** Three flow frames with distinct smooth u, v ramps (u, v, 128). */
function flowFrames(): { data: Uint8Array; shape: [number, number, number, number] } {
  const data = new Uint8Array(3 * H * W * 3);
  for (let k = 0; k < 3; k += 1) {
    for (let i = 0; i < H * W; i += 1) {
      data[(k * H * W + i) * 3] = 60 + k * 40 + (i % W) * 4;
      data[(k * H * W + i) * 3 + 1] = 200 - k * 30 - Math.floor(i / W) * 5;
      data[(k * H * W + i) * 3 + 2] = 128;
    }
  }
  return { data, shape: [3, H, W, 3] };
}

const params = (format: FlowFormat): FlowCacheParams => ({ method: "tvl1", shortSide: 64, bound: 20, format });
const metaOf = (format: FlowFormat): FlowMeta => ({ version: 1, videoId: "v_X_g01_c01", uri: "/x.mp4", frames: 4, width: W, height: H, fps: 30, params: params(format) });

describe("flow cache", () => {
  for (const format of ["png", "raw", "jpeg"] as const) {
    it(`${format}: writes an entry and reads flow frames back at RGB frame indices (last index clamps to the last flow)`, async () => {
      const root = tempDir("clipflow-flowstore-");
      const dir = flowVideoDir(root, params(format), "v_X_g01_c01");
      const flow = flowFrames();
      await writeFlowVideo(dir, metaOf(format), flow);
      const meta = await readFlowMeta(dir);
      assert.deepEqual(meta, metaOf(format));
      const read = await readFlowFrames(dir, meta as FlowMeta, [2, 0, 3]);
      assert.deepEqual(read.shape, [3, H, W, 3]);
      const frame = H * W * 3;
      const expected = new Uint8Array([...flow.data.subarray(2 * frame, 3 * frame), ...flow.data.subarray(0, frame), ...flow.data.subarray(2 * frame, 3 * frame)]);
      if (format === "jpeg") {
        // quality 100 with 4:2:0 chroma, as the reference writes: close, not exact
        let worst = 0;
        read.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[i]!))));
        assert.ok(worst <= 12, `max |Δ| ${worst}`);
      } else assert.deepEqual(read.data, expected);
    });
  }

  it("stores images in the reference's byte order: RGB files hold (128, v, u)", async () => {
    const root = tempDir("clipflow-flowstore-");
    const dir = flowVideoDir(root, params("png"), "v_X_g01_c01");
    await writeFlowVideo(dir, metaOf("png"), flowFrames());
    const { data } = await sharp(join(dir, "flow_00002.png")).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([data[0], data[1], data[2]], [128, 170, 100]);
  });

  it("keys entries by every parameter that changes the pixels; video ids become safe folder names", () => {
    assert.notEqual(flowCacheKey(params("png")), flowCacheKey(params("jpeg")));
    assert.notEqual(flowCacheKey(params("png")), flowCacheKey({ ...params("png"), tvl1: { warps: 3 } }));
    assert.equal(flowCacheKey(params("png")), flowCacheKey({ ...params("png"), farneback: { levels: 2 } }));
    assert.match(flowCacheKey(params("png")), /^tvl1-s64-[0-9a-f]{10}$/);
    const odd = flowVideoDir("/c", params("png"), "../a b/ü");
    assert.match(odd, /^\/c\/tvl1-s64-[0-9a-f]{10}\/__a_b__-[0-9a-f]{8}$/);
  });

  it("an entry without meta.json does not exist yet; bad entries are typed errors naming the file", async () => {
    const root = tempDir("clipflow-flowstore-");
    const dir = flowVideoDir(root, params("png"), "v");
    assert.equal(await readFlowMeta(dir), undefined);
    await writeFlowVideo(dir, metaOf("png"), flowFrames());
    rmSync(join(dir, "flow_00002.png"));
    await assert.rejects(readFlowFrames(dir, metaOf("png"), [1]), { tag: "MissingFile", message: /flow_00002\.png is missing/ });
    writeFileSync(join(dir, "flow_00001.png"), "not a png");
    await assert.rejects(readFlowFrames(dir, metaOf("png"), [0]), { tag: "CorruptFile", message: /flow_00001\.png cannot be decoded/ });
    writeFileSync(join(dir, "meta.json"), "{ truncated");
    await assert.rejects(readFlowMeta(dir), { tag: "CorruptFile", message: /meta\.json/ });

    const rawDir = flowVideoDir(root, params("raw"), "v");
    await writeFlowVideo(rawDir, metaOf("raw"), flowFrames());
    truncateSync(join(rawDir, "flow.u8"), H * W * 2 + 5);
    await assert.rejects(readFlowFrames(rawDir, metaOf("raw"), [0, 2]), { tag: "CorruptFile", message: /truncated at flow frame 2/ });
    assert.equal(readFileSync(join(rawDir, "meta.json"), "utf8").includes('"raw"'), true);
  });

  it("refuses flow that does not fit the video's frame count", async () => {
    const root = tempDir("clipflow-flowstore-");
    await assert.rejects(writeFlowVideo(join(root, "v"), { ...metaOf("png"), frames: 9 }, flowFrames()), { tag: "ConfigError", message: /does not fit 9 frames/ });
  });
});
