// C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (ReLU), f32 accumulation, optionally split over K.
// BLAS-style strides and element offsets let one dispatch compute a sub-problem of matrices bound
// through windows (operands over the storage binding limit are processed in pieces).
//
// Register blocking for software rasterisers and GPUs alike: a workgroup owns R rows and each lane
// C vec4 column groups. Rows derive from the workgroup id only, so every A load has one address per
// workgroup (a scalar broadcast on lavapipe, a uniform load on GPUs); B loads are vec4 along N.
// With `splits` > 1 each split writes partials [split, M, N] that `reduce_splits` sums in a fixed
// order (deterministic, no atomics) and applies bias and ReLU to.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  kChunk: u32,  // K per split
  splits: u32,
  lda: u32,     // row stride of A as stored ([M, K], or [K, M] with TRANS_A)
  ldb: u32,     // row stride of B as stored ([K, N], or [N, K] with TRANS_B)
  ldc: u32,     // row stride of C
  aOff: u32,    // element offsets of the operands in their bindings
  bOff: u32,
  cOff: u32,
  biasOff: u32,
}

override TRANS_A: bool = false;  // A stored [K, M]
override TRANS_B: bool = false;  // B stored [N, K]
override VEC_B: bool = false;    // B stored [K, N] with ldb and bOff multiples of 4: vec4 loads
override BIAS: bool = false;
override RELU: bool = false;
override RELU_MAX: f32 = 3.40282e38;  // ReLU's upper clamp: 6 for ReLU6
override HALF_B: bool = false;   // B stored as IEEE halves in `bh`, two per word (inference weights); f32 arithmetic
override WG: u32 = 64u;          // lanes per workgroup
override COL_LANES: u32 = 64u;   // lanes along N; the others take further row groups (narrow N)
const R: u32 = 16u;               // rows per workgroup
const C: u32 = 2u;               // vec4 column groups per lane

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bh: array<u32>;

fn b_at(e: u32) -> f32 {
  if (HALF_B) { return unpack2x16float(bh[e >> 1u])[e & 1u]; }
  return b[e >> 2u][e & 3u];
}

// Elements [e, e+4) of B, e a multiple of 4.
fn b4_at(e: u32) -> vec4f {
  if (HALF_B) { return vec4f(unpack2x16float(bh[e >> 1u]), unpack2x16float(bh[(e >> 1u) + 1u])); }
  return b[e >> 2u];
}

// Columns [n, n+4) of row k of op(B); columns past N repeat the last one (never stored).
fn load_b(k: u32, n: u32) -> vec4f {
  let l = p.N - 1u;
  if (VEC_B) { return b4_at(p.bOff + k * p.ldb + min(n, p.N - 4u)); }
  if (TRANS_B) {
    let e = p.bOff + k;
    return vec4f(b_at(e + min(n, l) * p.ldb), b_at(e + min(n + 1u, l) * p.ldb), b_at(e + min(n + 2u, l) * p.ldb), b_at(e + min(n + 3u, l) * p.ldb));
  }
  let row = p.bOff + k * p.ldb;
  return vec4f(b_at(row + min(n, l)), b_at(row + min(n + 1u, l)), b_at(row + min(n + 2u, l)), b_at(row + min(n + 3u, l)));
}

fn load_a(m: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[p.aOff + k * p.lda + m]; }
  return a[p.aOff + m * p.lda + k];
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let colGroups = (p.N + 4u * C * COL_LANES - 1u) / (4u * C * COL_LANES);
  let rowLanes = WG / COL_LANES;
  let rowGroups = (p.M + R * rowLanes - 1u) / (R * rowLanes);
  let w = workgroup_linear(wid, nwg);
  let split = w / (colGroups * rowGroups);
  if (split >= p.splits) { return; }
  let t = w % (colGroups * rowGroups);
  // With every lane on columns the rows are uniform across the workgroup (one address per A load).
  let wide = COL_LANES == WG;
  let lc = select(lid % COL_LANES, lid, wide);
  let lr = select(lid / COL_LANES, 0u, wide);
  let r0 = ((t / colGroups) * rowLanes + lr) * R;
  if (r0 >= p.M) { return; }
  let n0 = ((t % colGroups) * COL_LANES + lc) * 4u * C;
  let k0 = split * p.kChunk;
  let k1 = min(p.K, k0 + p.kChunk);
  let mLast = p.M - 1u;

  var acc: array<array<vec4f, C>, R>;
  for (var k = k0; k < k1; k++) {
    var bv: array<vec4f, C>;
    for (var j = 0u; j < C; j++) { bv[j] = load_b(k, n0 + 4u * j); }
    for (var i = 0u; i < R; i++) {
      let av = vec4f(load_a(min(r0 + i, mLast), k));
      for (var j = 0u; j < C; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
    }
  }

  // Split partials are dense [splits, M, N]; a single split writes C through its stride.
  let base = select(p.cOff, split * p.M * p.N, p.splits > 1u);
  let ldc = select(p.ldc, p.N, p.splits > 1u);
  for (var i = 0u; i < R; i++) {
    let m = r0 + i;
    for (var j = 0u; j < C; j++) {
      for (var u = 0u; u < 4u; u++) {
        let n = n0 + 4u * j + u;
        if (m < p.M && n < p.N) {  // guards, not a break: the loops unroll and acc stays in registers (unroll.ts)
          var v = acc[i][j][u];
          if (BIAS) { v += bias[p.biasOff + n]; }
          if (RELU) { v = min(max(v, 0.0), RELU_MAX); }
          c[base + m * ldc + n] = v;
        }
      }
    }
  }
}

struct ReduceParams { n: u32, cols: u32, splits: u32, ldo: u32, outOff: u32, biasOff: u32 }
@group(0) @binding(0) var<uniform> rp: ReduceParams;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> rbias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// out[row, col] (row stride ldo) = sum over s of partial[s, i] (+ bias[col]) (ReLU), for the dense
// index i = row * cols + col, summed in split order.
@compute @workgroup_size(64)
fn reduce_splits(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= rp.n) { return; }
  var v = 0.0;
  for (var s = 0u; s < rp.splits; s++) { v += partial[s * rp.n + i]; }
  let col = i % rp.cols;
  if (BIAS) { v += rbias[rp.biasOff + col]; }
  if (RELU) { v = min(max(v, 0.0), RELU_MAX); }
  out[rp.outOff + (i / rp.cols) * rp.ldo + col] = v;
}
