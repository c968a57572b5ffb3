import assert from "node:assert/strict";
import { test } from "node:test";
import { ClipflowError, isAbortError, toClipflowError } from "../../src/core/errors.ts";

test("describe names the stage, key, file and field", () => {
  const error = new ClipflowError("CorruptFile", "moov atom not found", { stage: "decode", key: "v1", uri: "/d/v1.mp4" });
  assert.equal(error.describe(), "CorruptFile [stage decode | key v1 | file /d/v1.mp4]: moov atom not found");
  assert.equal(error.name, "CorruptFile");
  assert.equal(new ClipflowError("ConfigError", "bad").describe(), "ConfigError: bad");
});

test("within fills missing context and keeps what is set", () => {
  const error = new ClipflowError("Timeout", "no frames", { stage: "decode" });
  const located = error.within({ stage: "other", key: "k", uri: "u" });
  assert.equal(located.stage, "decode");
  assert.equal(located.key, "k");
  assert.equal(located.uri, "u");
  assert.equal(located.tag, "Timeout");
  assert.equal(error.within({ stage: "x" }), error);
});

test("toClipflowError wraps unknown errors as StageError with the cause, and abort errors as Cancelled", () => {
  const cause = new TypeError("boom");
  const wrapped = toClipflowError(cause, { stage: "s", key: "k" });
  assert.equal(wrapped.tag, "StageError");
  assert.equal(wrapped.message, "boom");
  assert.equal(wrapped.cause, cause);
  assert.equal(toClipflowError("plain").message, "plain");
  const abort = new DOMException("aborted", "AbortError");
  assert.ok(isAbortError(abort));
  assert.equal(toClipflowError(abort).tag, "Cancelled");
});
