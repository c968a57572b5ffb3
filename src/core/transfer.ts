/**
 * Finds the ArrayBuffers inside a plain-data value so that they can be moved (transferred) across a thread boundary
 * instead of copied. A typed array that is only a window on a larger buffer (e.g. Node's pooled Buffers) is left to be
 * copied: transferring it would detach memory that other views still use.
 */
export function transferablesOf(value: unknown, found: Set<ArrayBuffer> = new Set(), depth = 0): ArrayBuffer[] {
  if (depth > 8 || value === null || typeof value !== "object") return [...found];
  if (ArrayBuffer.isView(value)) {
    const buffer = value.buffer;
    if (buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buffer.byteLength) {
      found.add(buffer);
    }
    return [...found];
  }
  if (value instanceof ArrayBuffer) {
    found.add(value);
    return [...found];
  }
  const children = Array.isArray(value) ? value : Object.values(value);
  for (const child of children) {
    if (child !== null && typeof child === "object") transferablesOf(child, found, depth + 1);
  }
  return [...found];
}
