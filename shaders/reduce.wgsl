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
