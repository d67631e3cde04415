// C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (ReLU), f32 accumulation, optionally split over K,
// on the GEMM core (shaders/include/gemm.wgsl): a workgroup owns R rows, so every A load has one
// address per workgroup, and B loads are vec4 along N. BLAS-style strides and element offsets let
// one dispatch compute a sub-problem of matrices bound through windows (operands over the storage
// binding limit are processed in pieces).
// With `splits` > 1 each split writes partials [split, M, N] that `reduce_splits` sums in a fixed
// order (deterministic, no atomics) and applies bias and ReLU to.
//#include gemm

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
  colLanes: u32, // a narrow lane layout's column lanes (gemm.wgsl)
  hasBias: u32, // the epilogue (gemm.wgsl): add bias[N], then ReLU clamped at reluMax
  relu: u32,
  reluMax: f32,
}

override TRANS_A: bool = false;  // A stored [K, M]
override TRANS_B: bool = false;  // B stored [N, K]
override VEC_B: bool = false;    // B stored [K, N] with ldb and bOff multiples of 4: vec4 loads
override HALF_B: bool = false;   // B stored as IEEE halves in `bh`, two per word (inference weights); f32 arithmetic

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> bh: array<u32>;

fn mm_write(e: u32, v: f32) { c[e] = v; }
fn mm_bias(n: u32) -> f32 { return bias[p.biasOff + n]; }
fn mm_col_lanes() -> u32 { return p.colLanes; }

//#include half_cols(at = b_at, at4 = b4_at, vec4s = b, halves = bh, half = HALF_B)

// Columns [n, n+4) of row k of op(B).
fn load_b(k: u32, n: u32) -> vec4f {
  if (VEC_B) { return b4_at(p.bOff + k * p.ldb + min(n, p.N - 4u)); }
  let cols = gemm_cols(n, p.N);
  let e = select(p.bOff + k * p.ldb + cols, p.bOff + k + cols * p.ldb, TRANS_B);
  return vec4f(b_at(e[0]), b_at(e[1]), b_at(e[2]), b_at(e[3]));
}

fn load_a(m: u32, k: u32) -> f32 {
  if (TRANS_A) { return a[p.aOff + k * p.lda + m]; }
  return a[p.aOff + m * p.lda + k];
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_index();  // while every lane is active
  let g = workgroup_linear(wid, nwg);
  let tiles = gemm_tiles(p.M, p.N);
  let split = g / tiles;
  if (split >= p.splits) { return; }
  let t = gemm_tile(g % tiles, lid, p.M, p.N);
  if (!t.ok) { return; }
  let k0 = split * p.kChunk;
  let k1 = min(p.K, k0 + p.kChunk);
  let mLast = p.M - 1u;
  var acc: Acc;
  //#include gemm_kloop(k0 = k0, k1 = k1, b(k, n) = load_b(k, n),
  //  a(i, k) = load_a(min(t.r0 + i, mLast), k), a_own(l, k) = load_a(min(gemm_own_row(t, lane, l), mLast), k))
  // Split partials are dense [splits, M, N]; a single split writes C through its stride.
  let multi = p.splits > 1u;
  gemm_store(&acc, t, p.M, p.N, select(p.cOff, split * p.M * p.N, multi), select(p.ldc, p.N, multi), gemm_epilogue(p.hasBias, p.relu, p.reluMax));
}

struct ReduceParams { n: u32, cols: u32, splits: u32, ldo: u32, outOff: u32, biasOff: u32, hasBias: u32, relu: u32, reluMax: f32 }
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
  if (rp.hasBias != 0u) { v += rbias[rp.biasOff + col]; }
  if (rp.relu != 0u) { v = min(max(v, 0.0), rp.reluMax); }
  out[rp.outOff + (i / rp.cols) * rp.ldo + col] = v;
}
