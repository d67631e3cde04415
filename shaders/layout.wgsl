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

struct ChannelParams { rows: u32, ca: u32, cb: u32, c0: u32 }
@group(0) @binding(0) var<uniform> c: ChannelParams;
@group(0) @binding(3) var<storage, read> src2: array<f32>;

// Channel concatenation of row-major [rows, ca] and [rows, cb] into [rows, ca + cb].
@compute @workgroup_size(64)
fn concat_channels(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  let w = c.ca + c.cb;
  if (i >= c.rows * w) { return; }
  let r = i / w;
  let ch = i % w;
  dst[i] = select(src2[r * c.cb + ch - c.ca], src[r * c.ca + ch], ch < c.ca);
}

// Channels [c0, c0 + cb) of row-major [rows, ca] into [rows, cb].
@compute @workgroup_size(64)
fn slice_channels(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= c.rows * c.cb) { return; }
  dst[i] = src[(i / c.cb) * c.ca + c.c0 + i % c.cb];
}

struct GatherParams { n: u32, cols: u32, rows: u32 }
@group(0) @binding(0) var<uniform> gp: GatherParams;
@group(0) @binding(4) var<storage, read> index: array<u32>;

// dst[i, :] = src[index[i], :]: selected rows of a [rows, cols] matrix.
@compute @workgroup_size(64)
fn gather_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= gp.n * gp.cols) { return; }
  dst[i] = src[index[i / gp.cols] * gp.cols + i % gp.cols];
}

struct HalfParams { n: u32 }  // f32 elements
@group(0) @binding(0) var<uniform> hp: HalfParams;
@group(0) @binding(5) var<storage, read_write> halves: array<u32>;

// Weights as IEEE halves for inference: elements 2i and 2i+1 packed into word i (low half first).
@compute @workgroup_size(64)
fn to_half(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  let e = 2u * i;
  if (e >= hp.n) { return; }
  halves[i] = pack2x16float(vec2f(src[e], select(0.0, src[min(e + 1u, hp.n - 1u)], e + 1u < hp.n)));
}
