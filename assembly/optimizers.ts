/**
 * Parameter updates as one pass per parameter tensor (instead of a dozen tfjs ops, each a kernel launch: S3D has 235
 * parameter tensors), with the same float32 operations in the same order as the tfjs formulas in optim.ts and
 * momentum.ts, so results are identical. Every output goes to a fresh buffer (tensors are immutable). Pointers are
 * byte offsets into tfjs's wasm heap; n is the element count.
 */

/**
 * Adam (PyTorch's update): g = grad + l2·θ; m' = β1·m + (1 − β1)·g; v' = β2·v + (1 − β2)·g²;
 * θ' = θ − lr·(m'/c1) / (√(v'/c2) + eps) − decay·θ, with c1, c2 the bias corrections and decay = lr·wd when decoupled.
 */
export function adamStep(
  theta: usize, grad: usize, m: usize, v: usize, n: i32,
  lr: f32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, c1: f32, c2: f32, eps: f32, l2: f32, decay: f32,
  thetaOut: usize, mOut: usize, vOut: usize,
): void {
  const simd = n & ~3;
  const b1 = f32x4.splat(beta1);
  const a1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const a2 = f32x4.splat(oneMinusBeta2);
  const k1 = f32x4.splat(c1);
  const k2 = f32x4.splat(c2);
  const e = f32x4.splat(eps);
  const r = f32x4.splat(lr);
  const w = f32x4.splat(l2);
  const d = f32x4.splat(decay);
  let i = 0;
  for (; i < simd; i += 4) {
    const off = <usize>i << 2;
    const t = v128.load(theta + off);
    let g = v128.load(grad + off);
    if (l2 != 0) g = f32x4.add(g, f32x4.mul(t, w));
    const mi = f32x4.add(f32x4.mul(v128.load(m + off), b1), f32x4.mul(g, a1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + off), b2), f32x4.mul(f32x4.mul(g, g), a2));
    v128.store(mOut + off, mi);
    v128.store(vOut + off, vi);
    let next = f32x4.sub(t, f32x4.mul(f32x4.div(f32x4.div(mi, k1), f32x4.add(f32x4.sqrt(f32x4.div(vi, k2)), e)), r));
    if (decay != 0) next = f32x4.sub(next, f32x4.mul(t, d));
    v128.store(thetaOut + off, next);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const t = load<f32>(theta + off);
    let g = load<f32>(grad + off);
    if (l2 != 0) g = g + t * l2;
    const mi = load<f32>(m + off) * beta1 + g * oneMinusBeta1;
    const vi = load<f32>(v + off) * beta2 + g * g * oneMinusBeta2;
    store<f32>(mOut + off, mi);
    store<f32>(vOut + off, vi);
    let next = t - (mi / c1 / (Mathf.sqrt(vi / c2) + eps)) * lr;
    if (decay != 0) next = next - t * decay;
    store<f32>(thetaOut + off, next);
  }
}

/**
 * SGD with momentum (PyTorch's, dampening 0): g = grad + wd·θ; buf' = g on the first step, else μ·buf + g (no buffer
 * when μ = 0: buf' = g); θ' = θ − lr·buf'.
 */
export function sgdStep(theta: usize, grad: usize, buf: usize, n: i32, lr: f32, weightDecay: f32, momentum: f32, first: bool, thetaOut: usize, bufOut: usize): void {
  const simd = n & ~3;
  const r = f32x4.splat(lr);
  const w = f32x4.splat(weightDecay);
  const mu = f32x4.splat(momentum);
  const useBuffer = momentum > 0 && !first;
  let i = 0;
  for (; i < simd; i += 4) {
    const off = <usize>i << 2;
    const t = v128.load(theta + off);
    let g = v128.load(grad + off);
    if (weightDecay > 0) g = f32x4.add(g, f32x4.mul(t, w));
    if (useBuffer) g = f32x4.add(f32x4.mul(v128.load(buf + off), mu), g);
    if (momentum > 0) v128.store(bufOut + off, g);
    v128.store(thetaOut + off, f32x4.sub(t, f32x4.mul(g, r)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const t = load<f32>(theta + off);
    let g = load<f32>(grad + off);
    if (weightDecay > 0) g = g + t * weightDecay;
    if (useBuffer) g = load<f32>(buf + off) * momentum + g;
    if (momentum > 0) store<f32>(bufOut + off, g);
    store<f32>(thetaOut + off, t - g * lr);
  }
}

/** out = a·wa + b·wb (the momentum encoder's EMA; the sample-weighted mean of two replicas' gradients). */
export function blend(a: usize, wa: f32, b: usize, wb: f32, n: i32, out: usize): void {
  const simd = n & ~3;
  const x = f32x4.splat(wa);
  const y = f32x4.splat(wb);
  let i = 0;
  for (; i < simd; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(f32x4.mul(v128.load(a + off), x), f32x4.mul(v128.load(b + off), y)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) * wa + load<f32>(b + off) * wb);
  }
}
