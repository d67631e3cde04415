// Depthwise 2-D convolution (one KH x KW filter per channel) over NHWC activations, weights [KH, KW, C].
// Memory-bound (KH*KW multiply-adds per output), so a lane owns 4 channels (a vec4) of PX
// neighbouring output pixels along a row: each weight vector is loaded once for the PX pixels.
//
//   forward   lane = (image, output row, block of PX output columns, 4 channels)
//   dX        lane = (image, input row, block of PX input columns, 4 channels), gathering the taps
//   dW        lane = (tap, 4 channels, split of output pixels) -> partials [split, KH*KW*C], summed in
//             a fixed order by matmul.reduce_splits (deterministic, no atomics)
struct Params {
  N: u32,
  H: u32,
  W: u32,
  C: u32,
  OH: u32,
  OW: u32,
  KH: u32,
  KW: u32,
  stride: u32,
  dil: u32,
  padY: u32,    // zero rows above the input (SAME may pad more below: OH says how many outputs)
  padX: u32,
  pChunk: u32,  // dW: output pixels per split
  splits: u32,  // dW: number of splits
}

override VEC: bool = false;   // C % 4 == 0: vec4 loads and stores
override BIAS: bool = false;
override RELU: bool = false;
override RELU_MAX: f32 = 3.40282e38;  // ReLU's upper clamp: 6 for ReLU6
override HALF_W: bool = false;  // weights stored as IEEE halves in `wh`, two per word (inference); f32 arithmetic
const PX: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // forward, dW: [N, H, W, C]; dX: dy [N, OH, OW, C]
@group(0) @binding(2) var<storage, read> x4: array<vec4f>;    // the same buffer as x, for VEC loads
@group(0) @binding(3) var<storage, read> w: array<f32>;       // [KH, KW, C]
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>; // forward: [N, OH, OW, C]; dX: [N, H, W, C]; dW: partials
@group(0) @binding(6) var<storage, read> dy4: array<vec4f>;   // dW: [N, OH, OW, C]
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read> wh: array<u32>;      // with HALF_W: w's elements as packed halves
@group(0) @binding(9) var<storage, read> w4: array<vec4f>;    // the same buffer as w, for VEC loads

// Channels [c, c+4) of element e (a multiple of C) of x, zero past C.
fn load_x(e: u32, c: u32) -> vec4f {
  if (VEC) { return x4[(e + c) >> 2u]; }
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) { if (c + u < p.C) { v[u] = x[e + c + u]; } }
  return v;
}

fn load_dy(e: u32, c: u32) -> vec4f {
  if (VEC) { return dy4[(e + c) >> 2u]; }
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) { if (c + u < p.C) { v[u] = dy[e + c + u]; } }
  return v;
}

// Channels [c, c+4) of tap `tap`'s weights, zero past C. With VEC one vec4 (or two words of halves)
// instead of four scalar loads: on lavapipe each storage load is a loop over the SIMD lanes.
fn load_w(tap: u32, c: u32) -> vec4f {
  let e = tap * p.C + c;
  if (VEC) {
    if (HALF_W) { return vec4f(unpack2x16float(wh[e >> 1u]), unpack2x16float(wh[(e >> 1u) + 1u])); }
    return w4[e >> 2u];
  }
  var v = vec4f(0.0);
  for (var u = 0u; u < 4u; u++) {
    if (c + u < p.C) {
      if (HALF_W) { v[u] = unpack2x16float(wh[(e + u) >> 1u])[(e + u) & 1u]; } else { v[u] = w[e + u]; }
    }
  }
  return v;
}

fn store_y(e: u32, c: u32, v: vec4f) {
  for (var u = 0u; u < 4u; u++) { if (c + u < p.C) { y[e + c + u] = v[u]; } }
}

struct Lane { n: u32, row: u32, col0: u32, c: u32, ok: bool }

// Lanes over (image, row, block of PX columns, channel group), channel groups fastest.
fn lane(wid: vec3u, nwg: vec3u, lid: u32, rows: u32, cols: u32) -> Lane {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  let cg = (p.C + 3u) / 4u;
  let blocks = (cols + PX - 1u) / PX;
  let t = i / cg;
  let b = t % blocks;
  let r = (t / blocks) % rows;
  let n = t / (blocks * rows);
  return Lane(n, r, b * PX, (i % cg) * 4u, n < p.N);
}

@compute @workgroup_size(64)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let l = lane(wid, nwg, lid, p.OH, p.OW);
  if (!l.ok) { return; }
  var acc: array<vec4f, PX>;
  let iy0 = i32(l.row * p.stride) - i32(p.padY);
  for (var kh = 0u; kh < p.KH; kh++) {
    let iy = iy0 + i32(kh * p.dil);
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    let rowBase = nhwc_pixel(l.n, u32(iy), 0u, p.H, p.W);
    for (var kw = 0u; kw < p.KW; kw++) {
      let wv = load_w(kh * p.KW + kw, l.c);
      for (var j = 0u; j < PX; j++) {
        let ox = l.col0 + j;
        let ix = i32(ox * p.stride) - i32(p.padX) + i32(kw * p.dil);
        if (ox < p.OW && ix >= 0 && ix < i32(p.W)) {
          acc[j] = fma(load_x((rowBase + u32(ix)) * p.C, l.c), wv, acc[j]);
        }
      }
    }
  }
  var b = vec4f(0.0);
  if (BIAS) { for (var u = 0u; u < 4u; u++) { if (l.c + u < p.C) { b[u] = bias[l.c + u]; } } }
  for (var j = 0u; j < PX; j++) {
    let ox = l.col0 + j;
    if (ox < p.OW) {  // a guard, not a break: the loop unrolls and acc stays in registers (unroll.ts)
      var v = acc[j] + b;
      if (RELU) { v = min(max(v, vec4f(0.0)), vec4f(RELU_MAX)); }
      store_y(nhwc_pixel(l.n, l.row, ox, p.OH, p.OW) * p.C, l.c, v);
    }
  }
}

// dx[n, iy, ix, c] = sum over taps of dy[n, oy, ox, c] * w[kh, kw, c] where oy*stride = iy + padY - kh*dil
// (likewise for x). `x` holds dy here: the same gather as the forward pass, backwards.
@compute @workgroup_size(64)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let l = lane(wid, nwg, lid, p.H, p.W);
  if (!l.ok) { return; }
  var acc: array<vec4f, PX>;
  let s = i32(p.stride);
  for (var kh = 0u; kh < p.KH; kh++) {
    let ty = i32(l.row + p.padY) - i32(kh * p.dil);
    let oy = ty / s;
    if (ty < 0 || oy * s != ty || oy >= i32(p.OH)) { continue; }
    let rowBase = nhwc_pixel(l.n, u32(oy), 0u, p.OH, p.OW);
    for (var kw = 0u; kw < p.KW; kw++) {
      let wv = load_w(kh * p.KW + kw, l.c);
      for (var j = 0u; j < PX; j++) {
        let ix = l.col0 + j;
        let tx = i32(ix + p.padX) - i32(kw * p.dil);
        let ox = tx / s;
        if (ix < p.W && tx >= 0 && ox * s == tx && ox < i32(p.OW)) {
          acc[j] = fma(load_x((rowBase + u32(ox)) * p.C, l.c), wv, acc[j]);
        }
      }
    }
  }
  for (var j = 0u; j < PX; j++) {
    let ix = l.col0 + j;
    if (ix < p.W) { store_y(nhwc_pixel(l.n, l.row, ix, p.H, p.W) * p.C, l.c, acc[j]); }
  }
}

// Partial weight gradients: lane (split, tap, channel group) sums x * dy over its range of output pixels.
@compute @workgroup_size(64)
fn backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  let cg = (p.C + 3u) / 4u;
  let taps = p.KH * p.KW;
  let split = i / (taps * cg);
  if (split >= p.splits) { return; }
  let tap = (i / cg) % taps;
  let c = (i % cg) * 4u;
  let dyy = i32((tap / p.KW) * p.dil) - i32(p.padY);
  let dxx = i32((tap % p.KW) * p.dil) - i32(p.padX);
  let pixels = p.N * p.OH * p.OW;
  let q0 = split * p.pChunk;
  let q1 = min(pixels, q0 + p.pChunk);
  var acc = vec4f(0.0);
  if (q0 < q1) {
    let o = nhwc_coords(q0, p.OH, p.OW);
    var n = o.n;
    var oy = o.row;
    var ox = o.col;
    for (var q = q0; q < q1; q++) {
      let iy = i32(oy * p.stride) + dyy;
      let ix = i32(ox * p.stride) + dxx;
      if (iy >= 0 && iy < i32(p.H) && ix >= 0 && ix < i32(p.W)) {
        acc = fma(load_x(nhwc_pixel(n, u32(iy), u32(ix), p.H, p.W) * p.C, c), load_dy(q * p.C, c), acc);
      }
      ox++;
      if (ox == p.OW) {
        ox = 0u;
        oy++;
        if (oy == p.OH) { oy = 0u; n++; }
      }
    }
  }
  store_y((split * taps + tap) * p.C, c, acc);
}
