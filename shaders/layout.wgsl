// Data movement: batched transposes and the interleaving of fine-stride pooling results.
struct Params { B: u32, rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// dst[b, c, r] = src[b, r, c]
@compute @workgroup_size(64)
fn transpose(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  let per = p.rows * p.cols;
  if (i >= p.B * per) { return; }
  let b = i / per;
  let q = i % per;
  dst[i] = src[b * per + (q % p.rows) * p.cols + q / p.rows];
}

struct InterleaveParams { N: u32, h: u32, w: u32, C: u32 }
@group(0) @binding(0) var<uniform> q: InterleaveParams;

// [N*4, h, w, C] (image n*4 + dy*2 + dx) -> [N, 2h, 2w, C]: out[n, 2i+dy, 2j+dx] = in[n*4+dy*2+dx, i, j]
@compute @workgroup_size(64)
fn interleave(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= q.N * 4u * q.h * q.w * q.C) { return; }
  let c = i % q.C;
  let x = (i / q.C) % (2u * q.w);
  let y = (i / (q.C * 2u * q.w)) % (2u * q.h);
  let n = i / (q.C * 4u * q.w * q.h);
  let img = n * 4u + (y % 2u) * 2u + x % 2u;
  dst[i] = src[((img * q.h + y / 2u) * q.w + x / 2u) * q.C + c];
}

// The inverse permutation (the gradient of interleave).
@compute @workgroup_size(64)
fn deinterleave(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= q.N * 4u * q.h * q.w * q.C) { return; }
  let c = i % q.C;
  let j = (i / q.C) % q.w;
  let r = (i / (q.C * q.w)) % q.h;
  let img = i / (q.C * q.w * q.h);
  let o = img % 4u;
  let n = img / 4u;
  dst[i] = src[((n * 2u * q.h + 2u * r + o / 2u) * 2u * q.w + 2u * j + o % 2u) * q.C + c];
}
