// Column sums of a row-major [rows, cols] matrix, in chunks of rows: out[s, c] is the sum of rows
// [s*chunk, (s+1)*chunk). Called twice when there are many chunks; a fixed summation order keeps
// results identical run to run.
struct Params { rows: u32, cols: u32, chunk: u32, chunks: u32, scale: f32 }

override MASK: bool = false;  // sum x only where mask > 0 (the gradient of a fused ReLU)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;

@compute @workgroup_size(64)
fn sum_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.cols * p.chunks) { return; }
  let col = i % p.cols;
  let s = i / p.cols;
  let r0 = s * p.chunk;
  let r1 = min(p.rows, r0 + p.chunk);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) {
    let e = r * p.cols + col;
    if (MASK) { acc += select(0.0, x[e], mask[e] > 0.0); } else { acc += x[e]; }
  }
  out[i] = acc * p.scale;
}

// Per row of a row-major [rows, cols] matrix of logits: the mean of sigmoid(x) over the entries
// x >= threshold, 0 where there are none. A workgroup per row; lanes take strided columns and the
// 64 partial sums are added in a fixed tree order, so results are identical run to run.
struct ConfidenceParams { rows: u32, cols: u32, threshold: f32 }

@group(0) @binding(0) var<uniform> q: ConfidenceParams;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> confidence: array<f32>;

var<workgroup> partSum: array<f32, 64>;
var<workgroup> partCount: array<f32, 64>;

@compute @workgroup_size(64)
fn mean_sigmoid_above(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = workgroup_linear(wid, nwg);
  // Uniform per workgroup, so the barriers below are reached by every lane or none.
  if (row >= q.rows) { return; }
  var s = 0.0;
  var n = 0.0;
  for (var c = lid; c < q.cols; c += 64u) {
    let v = logits[row * q.cols + c];
    if (v >= q.threshold) { s += sigmoid(v); n += 1.0; }
  }
  partSum[lid] = s;
  partCount[lid] = n;
  workgroupBarrier();
  for (var w = 32u; w > 0u; w >>= 1u) {
    if (lid < w) {
      partSum[lid] += partSum[lid + w];
      partCount[lid] += partCount[lid + w];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { confidence[row] = select(0.0, partSum[0] / partCount[0], partCount[0] > 0.0); }
}
