import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ClipflowError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/io/datasets.ts";
import { tempDir } from "../helpers/tempDir.ts";

function tree(files: Record<string, string>): string {
  const dir = tempDir("clipflow-ds-");
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test("a folder with class subfolders: labels from sorted folder names, or from classInd.txt when present", () => {
  const dir = tree({ "b/x.mp4": "", "a/y.avi": "", "a/z.mkv": "", "a/notes.txt": "" });
  const dataset = openDataset(dir);
  assert.equal(dataset.kind, "folder");
  assert.deepEqual(dataset.classes, ["a", "b"]);
  assert.deepEqual(
    dataset.videos.map((v) => [v.id, v.label, v.className]),
    [["y", 0, "a"], ["z", 0, "a"], ["x", 1, "b"]],
  );
  writeFileSync(join(dir, "classInd.txt"), "1 b\n2 a\n");
  assert.deepEqual(openDataset(dir).videos.map((v) => v.label), [1, 1, 0]);
  const flat = tree({ "one.mp4": "", "two.webm": "", "readme.md": "" });
  assert.deepEqual(openDataset(flat).videos.map((v) => [v.id, v.label]), [["one", undefined], ["two", undefined]]);
});

test("UCF101 split lists resolve against their folder; labels are 1-based in the list, 0-based here", () => {
  const dir = tree({
    "classInd.txt": "1 ApplyEyeMakeup\n2 Archery\n",
    "trainlist01.txt": "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c02.avi 2\n",
    "testlist01.txt": "Archery/v_Archery_g01_c01.avi\n",
  });
  const train = openDataset(join(dir, "trainlist01.txt"));
  assert.equal(train.kind, "ucf101-split");
  assert.deepEqual(train.videos.map((v) => [v.id, v.label, v.split, v.uri]), [
    ["v_ApplyEyeMakeup_g08_c01", 0, "train", join(dir, "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi")],
    ["v_Archery_g08_c02", 1, "train", join(dir, "Archery/v_Archery_g08_c02.avi")],
  ]);
  assert.deepEqual(openDataset(join(dir, "testlist01.txt")).videos.map((v) => [v.label, v.split]), [[1, "test"]]);
  const bad = tree({ "classInd.txt": "1 A\n", "testlist01.txt": "A/w.avi\nB/v.avi\n" });
  assert.throws(
    () => openDataset(join(bad, "testlist01.txt")),
    (e: unknown) => e instanceof ClipflowError && e.tag === "BadAnnotation" && e.message === 'line 2: class of "B/v.avi" is not in classInd.txt',
  );
  const noIndex = tree({ "trainlist01.txt": "A/w.avi 1\n" });
  assert.throws(() => openDataset(join(noIndex, "trainlist01.txt")), /needs classInd.txt/);
});

test("HMDB51 split files: 1 = train, 2 = test, 0 = unused", () => {
  const dir = tree({ "brush_hair_test_split1.txt": "a.avi 1\nb.avi 2\nc.avi 0\nd.avi 1\n" });
  const train = openDataset(join(dir, "brush_hair_test_split1.txt"));
  assert.deepEqual(train.videos.map((v) => [v.id, v.className, v.uri]), [
    ["a", "brush_hair", join(dir, "brush_hair/a.avi")],
    ["d", "brush_hair", join(dir, "brush_hair/d.avi")],
  ]);
  assert.deepEqual(openDataset(join(dir, "brush_hair_test_split1.txt"), { split: "test" }).videos.map((v) => v.id), ["b"]);
  const bad = tree({ "x_test_split1.txt": "a.avi 3\n" });
  assert.throws(() => openDataset(join(bad, "x_test_split1.txt")), /line 1: expected "<file> 0\|1\|2"/);
});

test("CSV and JSONL manifests: path, label (index or class name), split filter, extra columns kept in meta", () => {
  const dir = tree({
    "m.csv": 'path,label,split,camera\nclips/a.mp4,walk,train,"left, high"\n/abs/b.mp4,run,test,right\nc.mp4,walk,train,\n',
    "m.jsonl": '{"uri":"a.mp4","label":2,"fps":25}\n\n{"uri":"b.mp4"}\n',
  });
  const csv = openDataset(join(dir, "m.csv"));
  assert.deepEqual(csv.classes, ["run", "walk"]);
  assert.deepEqual(csv.videos.map((v) => [v.id, v.uri, v.label, v.className, v.split, v.meta]), [
    ["a", join(dir, "clips/a.mp4"), 1, "walk", "train", { camera: "left, high" }],
    ["b", "/abs/b.mp4", 0, "run", "test", { camera: "right" }],
    ["c", join(dir, "c.mp4"), 1, "walk", "train", { camera: "" }],
  ]);
  assert.deepEqual(openDataset(join(dir, "m.csv"), { split: "test" }).videos.map((v) => v.id), ["b"]);
  const jsonl = openDataset(join(dir, "m.jsonl"));
  assert.deepEqual(jsonl.videos.map((v) => [v.id, v.label, v.meta]), [["a", 2, { fps: "25" }], ["b", undefined, {}]]);
  const noPath = tree({ "m.csv": "name,label\na,1\n" });
  assert.throws(() => openDataset(join(noPath, "m.csv")), (e: unknown) => e instanceof ClipflowError && e.field === "path");
  const badJson = tree({ "m.jsonl": '{"uri":"a.mp4"}\n{oops\n' });
  assert.throws(() => openDataset(join(badJson, "m.jsonl")), (e: unknown) => e instanceof ClipflowError && e.tag === "BadAnnotation" && /^line 2:/.test(e.message));
});

test("TSP annotations: segments per video with -1 for background, metadata joined, bad rows named", () => {
  const dir = tree({
    "annotations.csv": "video-name,t-start,t-end,action-label,region,subset\nv1.mp4,0,2.5,,No action,train\nv1.mp4,2.5,4,Jump,Action,train\nv2.mp4,0,3,Run,Action,test\n",
    "metadata.csv": "filename,video-duration,fps,video-frames\nv1.mp4,4,30,120\nv2.mp4,3,30,90\n",
  });
  const dataset = openDataset(join(dir, "annotations.csv"));
  assert.equal(dataset.kind, "annotations");
  assert.deepEqual(dataset.classes, ["Jump", "Run"]);
  assert.deepEqual(dataset.videos[0], {
    id: "v1",
    uri: join(dir, "v1.mp4"),
    split: "train",
    meta: { duration: 4, fps: 30, frames: 120 },
    segments: [
      { start: 0, end: 2.5, label: -1, region: "No action" },
      { start: 2.5, end: 4, label: 0, region: "Action", className: "Jump" },
    ],
  });
  assert.deepEqual(openDataset(join(dir, "annotations.csv"), { split: "test" }).videos.map((v) => v.id), ["v2"]);
  const bad = tree({ "a.csv": "video-name,t-start,t-end,action-label,region\nv.mp4,3,2,Run,Action\n" });
  assert.throws(() => openDataset(join(bad, "a.csv")), (e: unknown) => e instanceof ClipflowError && e.tag === "BadAnnotation" && e.key === "v.mp4" && /^row 2:/.test(e.message));
});

test("DATA that does not exist or is of no known kind is a clear error", () => {
  assert.throws(() => openDataset("/no/such/data"), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile");
  const dir = tree({ "x.yaml": "" });
  assert.throws(() => openDataset(join(dir, "x.yaml")), /cannot tell what kind of dataset/);
});
