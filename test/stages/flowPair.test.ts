import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { lastValueFrom, of, toArray } from "rxjs";
import { createCpuPool } from "../../src/core/cpuPool.ts";
import type { Frames, Sample, VideoRef } from "../../src/core/types.ts";
import { listFolder } from "../../src/io/datasets.ts";
import { decodeLibav } from "../../src/io/decoders/libav.ts";
import { decodeFlowPair, extractFlow } from "../../src/io/flowClips.ts";
import { flowCacheKey, flowVideoDir, readFlowFrames, readFlowMeta, type FlowCacheParams, type FlowMeta } from "../../src/io/flowStore.ts";
import { flowCache } from "../../src/stages/flowCache.ts";
import { flowPair, siblingGroup } from "../../src/stages/flowPair.ts";
import { spatialAugment } from "../../src/stages/spatialAugment.ts";
import { testContext } from "../helpers/context.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

const bin = fileURLToPath(new URL("../../bin/clipflow.js", import.meta.url));
const params: FlowCacheParams = { method: "farneback", shortSide: 24, bound: 20, format: "png" };

describe("flowCache and flowPair", () => {
  it("the cache holds T − 1 flow frames; flowPair's online flow equals the cached flow at the same indices", async () => {
    const video = listFolder(await tinyActions()).videos[0] as VideoRef;
    const root = tempDir("clipflow-flowpair-");
    const made = await extractFlow({ uri: video.uri, videoId: video.id, root, params });
    assert.equal(made.cached, false);
    const meta = (await readFlowMeta(made.dir)) as FlowMeta;
    assert.equal(meta.frames, 30);
    assert.deepEqual([meta.width, meta.height], [32, 24]);
    assert.equal((await extractFlow({ uri: video.uri, videoId: video.id, root, params })).cached, true);

    const online = await decodeFlowPair({ uri: video.uri, videoId: video.id, seed: 5, numFrames: 6, numClips: 2, rgb: true, source: { kind: "online", method: "farneback", bound: 20, shortSide: 24 } });
    for (const clip of online.clips) {
      assert.deepEqual(clip.flow.shape, [6, 24, 32, 3]);
      assert.deepEqual(clip.rgb?.shape, [6, 24, 32, 3]);
      assert.deepEqual(clip.rgb?.indices, clip.flow.indices);
      const cached = await readFlowFrames(made.dir, meta, clip.flow.indices);
      assert.deepEqual(cached.data, clip.flow.data);
    }

    const fromCache = await decodeFlowPair({ uri: video.uri, videoId: video.id, seed: 5, numFrames: 6, numClips: 2, rgb: true, source: { kind: "cache", dir: join(root, flowCacheKey(params)) } });
    for (const clip of fromCache.clips) {
      assert.deepEqual(clip.rgb?.indices, clip.flow.indices);
      assert.equal(clip.flow.indices.length, 6);
      clip.flow.indices.forEach((index, t) => t > 0 && assert.equal(index, clip.flow.indices[t - 1]! + 1));
    }
  });

  it("at a stride (CoCLR's ds), clips step by it; online flow equals the cached flow k → k + 1 and the RGB frames are the decoded ones", async () => {
    const video = listFolder(await tinyActions()).videos[2] as VideoRef;
    const root = tempDir("clipflow-flowpair-");
    const made = await extractFlow({ uri: video.uri, videoId: video.id, root, params });
    const meta = (await readFlowMeta(made.dir)) as FlowMeta;
    const stride = 4;
    const online = await decodeFlowPair({ uri: video.uri, videoId: video.id, seed: 9, numFrames: 6, stride, numClips: 3, rgb: true, source: { kind: "online", method: "farneback", bound: 20, shortSide: 24 } });
    const fromCache = await decodeFlowPair({ uri: video.uri, videoId: video.id, seed: 9, numFrames: 6, stride, numClips: 3, rgb: true, source: { kind: "cache", dir: join(root, flowCacheKey(params)) } });
    for (const { clips } of [online, fromCache]) {
      assert.equal(clips.length, 3);
      for (const clip of clips) {
        assert.deepEqual(clip.flow.shape, [6, 24, 32, 3]);
        assert.deepEqual(clip.rgb?.indices, clip.flow.indices);
        clip.flow.indices.forEach((index, t) => t > 0 && assert.equal(index, clip.flow.indices[t - 1]! + stride));
        assert.ok(clip.flow.indices.at(-1)! <= 28, "every flow frame has its second frame in the video");
        assert.deepEqual((await readFlowFrames(made.dir, meta, clip.flow.indices)).data, clip.flow.data);
        const decoded = decodeLibav({ uri: video.uri, indices: clip.flow.indices, geometry: { shortSide: 24 } });
        assert.deepEqual(clip.rgb?.data, decoded.data);
      }
    }
  });

  it("a video without cached flow is a MissingFile error telling what to run", async () => {
    const video = listFolder(await tinyActions()).videos[1] as VideoRef;
    const root = tempDir("clipflow-flowpair-");
    await assert.rejects(
      decodeFlowPair({ uri: video.uri, videoId: video.id, seed: 1, numFrames: 4, numClips: 2, rgb: true, source: { kind: "cache", dir: join(root, flowCacheKey(params)) } }),
      { tag: "MissingFile", message: /run `clipflow flow` on this data first/ },
    );
  });

  it("emits rgb0/flow0/rgb1/flow1 (or one modality) with the sibling group; spatialAugment shares a clip's crop and flip", async () => {
    const videos = listFolder(await tinyActions()).videos.slice(0, 2);
    const root = tempDir("clipflow-flowpair-");
    const cpu = createCpuPool(0);
    const ctx = testContext({ cpu, seed: 2 });
    const filled = await lastValueFrom(of(...videos).pipe(flowCache({ root, ...params }).apply(ctx), toArray()));
    assert.deepEqual(filled.map((v) => v.meta?.flow), videos.map((v) => flowVideoDir(root, params, v.id)));
    const pair = flowPair({ root, ...params, numFrames: 4 });
    const samples = (await lastValueFrom(of(...videos).pipe(pair.apply(ctx), toArray()))) as Sample[];
    assert.deepEqual(Object.keys(samples[0]!.views), ["rgb0", "flow0", "rgb1", "flow1"]);
    assert.equal(samples[0]!.meta.group, siblingGroup(videos[0]!.id));
    const flowOnly = flowPair({ root, ...params, numFrames: 4, modalities: ["flow"] });
    const [onlyFlow] = (await lastValueFrom(of(videos[0]!).pipe(flowOnly.apply(ctx), toArray()))) as Sample[];
    assert.deepEqual(Object.keys(onlyFlow!.views), ["flow0", "flow1"]);

    // identical content in every view: with per-clip sharing, rgbK and flowK stay identical, clip 0 and clip 1 differ
    const frames = (): Frames => ({ data: Uint8Array.from({ length: 2 * 24 * 32 * 3 }, (_, i) => (i * 7) % 251), shape: [2, 24, 32, 3], layout: "THWC", videoId: "v", indices: [0, 1] });
    const sample: Sample = { key: "v", videoId: "v", views: { rgb0: frames(), flow0: frames(), rgb1: frames(), flow1: frames() }, targets: {}, meta: {} };
    const augment = spatialAugment({ crop: "randomResized", size: [16, 16], flip: 0, shareAcrossViews: "clip" });
    const [out] = (await lastValueFrom(of(sample).pipe(augment.apply(ctx), toArray()))) as Sample[];
    assert.deepEqual(out!.views.flow0!.data, out!.views.rgb0!.data);
    assert.deepEqual(out!.views.flow1!.data, out!.views.rgb1!.data);
    assert.notDeepEqual(out!.views.rgb1!.data, out!.views.rgb0!.data);
    await cpu.close();
  });

  it("siblings: UCF101 clips of one source video share a group", () => {
    assert.equal(siblingGroup("v_ApplyEyeMakeup_g08_c01"), "ApplyEyeMakeup_g08");
    assert.equal(siblingGroup("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c03"), "ApplyEyeMakeup_g08");
    assert.equal(siblingGroup("clip-17"), undefined);
  });
});

describe("clipflow flow", () => {
  it("computes every good video, dead-letters bad ones by name, and resumes without recomputing", async () => {
    const data = tempDir("clipflow-flowcli-");
    const good = listFolder(await tinyActions()).videos.slice(0, 3);
    mkdirSync(join(data, "A"));
    good.forEach((video, i) => copyFileSync(video.uri, join(data, "A", `good ${i}.mp4`)));
    writeFileSync(join(data, "A", "empty.mp4"), "");
    writeFileSync(join(data, "A", "truncated.mp4"), readFileSync(good[0]!.uri).subarray(0, 2000));
    writeFileSync(join(data, "A", "random.mp4"), Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 256));
    const out = join(data, "flow");
    const run = () => spawnSync(process.execPath, [bin, "flow", "--data", data, "--out", out, "--method", "fast", "--size", "16", "--format", "raw", "--workers", "1"], { encoding: "utf8", timeout: 120_000 });
    const first = run();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /3 computed, 0 already cached, 3 failed/);
    const key = /→ (.*)\n/.exec(first.stdout)?.[1] as string;
    const dead = readFileSync(join(key, "dead-letter.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { uri: string; stage: string; error: string });
    assert.deepEqual(dead.map((d) => d.uri.split("/").pop()).sort(), ["empty.mp4", "random.mp4", "truncated.mp4"]);
    assert.ok(dead.every((d) => d.stage === "flowCache" && ["CorruptFile", "NoVideoStream", "DecodeError", "TooShort"].includes(d.error)), JSON.stringify(dead));
    const log = readFileSync(join(key, "flow-log.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { frames: number; cached: boolean });
    assert.deepEqual(log.map((l) => [l.frames, l.cached]), [[30, false], [30, false], [30, false]]);

    const second = spawnSync(process.execPath, [bin, "flow", "--data", data, "--out", out, "--method", "fast", "--size", "16", "--format", "raw", "--workers", "1", "--resume"], { encoding: "utf8", timeout: 120_000 });
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /0 computed, 3 already cached, 3 failed/);

    const bad = spawnSync(process.execPath, [bin, "flow", "--data", data, "--out", out, "--method", "raft"], { encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--method must be tvl1 or fast, got "raft"/);
    const noData = spawnSync(process.execPath, [bin, "flow", "--out", out], { encoding: "utf8" });
    assert.match(noData.stderr, /--data is required/);
  });
});
