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
@group(0) @binding(0) var<uniform> ip: InterleaveParams;

// [N*4, h, w, C] (image n*4 + dy*2 + dx) -> [N, 2h, 2w, C]: out[n, 2i+dy, 2j+dx] = in[n*4+dy*2+dx, i, j]
@compute @workgroup_size(64)
fn interleave(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= ip.N * 4u * ip.h * ip.w * ip.C) { return; }
  let o = nhwc_coords(i / ip.C, 2u * ip.h, 2u * ip.w);
  let img = o.n * 4u + (o.row % 2u) * 2u + o.col % 2u;
  dst[i] = src[nhwc_pixel(img, o.row / 2u, o.col / 2u, ip.h, ip.w) * ip.C + i % ip.C];
}

// The inverse permutation (the gradient of interleave).
@compute @workgroup_size(64)
fn deinterleave(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= ip.N * 4u * ip.h * ip.w * ip.C) { return; }
  let q = nhwc_coords(i / ip.C, ip.h, ip.w);
  let o = q.n % 4u;
  let n = q.n / 4u;
  dst[i] = src[nhwc_pixel(n, 2u * q.row + o / 2u, 2u * q.col + o % 2u, 2u * ip.h, 2u * ip.w) * ip.C + i % ip.C];
}

struct ChannelParams { rows: u32, ca: u32, cb: u32, c0: u32 }
@group(0) @binding(0) var<uniform> cp: ChannelParams;
@group(0) @binding(3) var<storage, read> src2: array<f32>;

// Channel concatenation of row-major [rows, ca] and [rows, cb] into [rows, ca + cb].
@compute @workgroup_size(64)
fn concat_channels(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  let w = cp.ca + cp.cb;
  if (i >= cp.rows * w) { return; }
  let r = i / w;
  let ch = i % w;
  dst[i] = select(src2[r * cp.cb + ch - cp.ca], src[r * cp.ca + ch], ch < cp.ca);
}

// Channels [c0, c0 + cb) of row-major [rows, ca] into [rows, cb].
@compute @workgroup_size(64)
fn slice_channels(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= cp.rows * cp.cb) { return; }
  dst[i] = src[(i / cp.cb) * cp.ca + cp.c0 + i % cp.cb];
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

struct UpsampleParams { N: u32, h: u32, w: u32, C: u32, f: u32 }
@group(0) @binding(0) var<uniform> up: UpsampleParams;

// Nearest-neighbour upsampling by an integer factor f: [N, h, w, C] -> [N, f h, f w, C],
// out[n, y, x, c] = in[n, y / f, x / f, c]. A lane per input element writes its f x f copies (one
// load and one set of index arithmetic for f^2 stores).
@compute @workgroup_size(64)
fn upsample_nearest(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= up.N * up.h * up.w * up.C) { return; }
  let q = nhwc_coords(i / up.C, up.h, up.w);
  let c = i % up.C;
  let v = src[i];
  for (var dy = 0u; dy < up.f; dy++) {
    let row = nhwc_pixel(q.n, q.row * up.f + dy, q.col * up.f, up.f * up.h, up.f * up.w) * up.C + c;
    for (var dx = 0u; dx < up.f; dx++) { dst[row + dx * up.C] = v; }
  }
}

// Its gradient: each input element sums the f x f output elements it was copied to.
@compute @workgroup_size(64)
fn upsample_nearest_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= up.N * up.h * up.w * up.C) { return; }
  let q = nhwc_coords(i / up.C, up.h, up.w);
  let c = i % up.C;
  var s = 0.0;
  for (var dy = 0u; dy < up.f; dy++) {
    for (var dx = 0u; dx < up.f; dx++) {
      s += src[nhwc_pixel(q.n, q.row * up.f + dy, q.col * up.f + dx, up.f * up.h, up.f * up.w) * up.C + c];
    }
  }
  dst[i] = s;
}

struct ShuffleParams { N: u32, h: u32, w: u32, C: u32 }
@group(0) @binding(0) var<uniform> sh: ShuffleParams;

// Pixel shuffle: [N, h, w, 4C] -> [N, 2h, 2w, C], out[n, 2y + a, 2x + b, c] = in[n, y, x, (2a + b) C + c].
// A lane per input row (n, y) walks its pixels: the index arithmetic (integer divisions are loops
// over the SIMD lanes on lavapipe) is done once per row, not per element.
@compute @workgroup_size(64)
fn depth_to_space(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = workgroup_linear(wid, nwg) * 64u + lid;
  if (r >= sh.N * sh.h) { return; }
  let C = sh.C;
  var deep = r * sh.w * 4u * C;  // in[n, y, 0, 0]
  let row0 = 4u * r * sh.w * C;  // out[n, 2y, 0, 0]: row n 2h + 2y = 2r of 2w pixels
  for (var x = 0u; x < sh.w; x++) {
    for (var a = 0u; a < 2u; a++) {
      let to = row0 + (a * 2u * sh.w + 2u * x) * C;
      for (var c = 0u; c < 2u * C; c++) { dst[to + c] = src[deep + a * 2u * C + c]; }
    }
    deep += 4u * C;
  }
}

// Its inverse (and gradient): [N, 2h, 2w, C] -> [N, h, w, 4C].
@compute @workgroup_size(64)
fn space_to_depth(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = workgroup_linear(wid, nwg) * 64u + lid;
  if (r >= sh.N * sh.h) { return; }
  let C = sh.C;
  var deep = r * sh.w * 4u * C;
  let row0 = 4u * r * sh.w * C;
  for (var x = 0u; x < sh.w; x++) {
    for (var a = 0u; a < 2u; a++) {
      let at = row0 + (a * 2u * sh.w + 2u * x) * C;
      for (var c = 0u; c < 2u * C; c++) { dst[deep + a * 2u * C + c] = src[at + c]; }
    }
    deep += 4u * C;
  }
}

struct CropParams { n: u32, s: u32, B: u32, H: u32, W: u32, C: u32 }
@group(0) @binding(0) var<uniform> cr: CropParams;
@group(0) @binding(6) var<storage, read> boxes: array<i32>;  // [n, 3]: image, top row, left column

// Square windows of side s cut from a batch of maps [B, H, W, C]: out[i, y, x, c] =
// map[image_i, top_i + y, left_i + x, c], zero where that lies off the map.
@compute @workgroup_size(64)
fn crop_windows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= cr.n * cr.s * cr.s * cr.C) { return; }
  let o = nhwc_coords(i / cr.C, cr.s, cr.s);
  let row = boxes[o.n * 3u + 1u] + i32(o.row);
  let col = boxes[o.n * 3u + 2u] + i32(o.col);
  var v = 0.0;
  if (row >= 0 && col >= 0 && u32(row) < cr.H && u32(col) < cr.W) {
    v = src[nhwc_pixel(u32(boxes[o.n * 3u]), u32(row), u32(col), cr.H, cr.W) * cr.C + i % cr.C];
  }
  dst[i] = v;
}

// Its gradient: each map element sums the window elements cut from it (a loop over the windows, so
// overlapping windows need no atomics).
@compute @workgroup_size(64)
fn crop_windows_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= cr.B * cr.H * cr.W * cr.C) { return; }
  let q = nhwc_coords(i / cr.C, cr.H, cr.W);
  let c = i % cr.C;
  var s = 0.0;
  for (var k = 0u; k < cr.n; k++) {
    let y = i32(q.row) - boxes[k * 3u + 1u];
    let x = i32(q.col) - boxes[k * 3u + 2u];
    if (u32(boxes[k * 3u]) == q.n && y >= 0 && x >= 0 && u32(y) < cr.s && u32(x) < cr.s) {
      s += src[nhwc_pixel(k, u32(y), u32(x), cr.s, cr.s) * cr.C + c];
    }
  }
  dst[i] = s;
}
