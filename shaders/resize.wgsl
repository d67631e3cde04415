// Bilinear resampling of NHWC images to any size. The source coordinate of output row y is
// max(0, y*ay + by): align-corners uses ay = (IH-1)/(OH-1), by = 0; half-pixel uses
// ay = IH/OH, by = ay/2 - 1/2 (PyTorch's align_corners=False). Columns likewise.
struct Params {
  N: u32,
  IH: u32,
  IW: u32,
  C: u32,
  OH: u32,
  OW: u32,
  ay: f32,
  by: f32,
  ax: f32,
  bx: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

struct Taps { i0: u32, i1: u32, t: f32 }

fn taps(o: u32, a: f32, b: f32, size: u32) -> Taps {
  let s = max(f32(o) * a + b, 0.0);
  let i0 = min(u32(floor(s)), size - 1u);
  return Taps(i0, min(i0 + 1u, size - 1u), s - f32(i0));
}

@compute @workgroup_size(64)
fn bilinear(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.N * p.OH * p.OW * p.C) { return; }
  let c = i % p.C;
  let o = nhwc_coords(i / p.C, p.OH, p.OW);
  let ty = taps(o.row, p.ay, p.by, p.IH);
  let tx = taps(o.col, p.ax, p.bx, p.IW);
  let v00 = src[nhwc_pixel(o.n, ty.i0, tx.i0, p.IH, p.IW) * p.C + c];
  let v01 = src[nhwc_pixel(o.n, ty.i0, tx.i1, p.IH, p.IW) * p.C + c];
  let v10 = src[nhwc_pixel(o.n, ty.i1, tx.i0, p.IH, p.IW) * p.C + c];
  let v11 = src[nhwc_pixel(o.n, ty.i1, tx.i1, p.IH, p.IW) * p.C + c];
  let top = v00 + (v01 - v00) * tx.t;
  let bot = v10 + (v11 - v10) * tx.t;
  dst[i] = top + (bot - top) * ty.t;
}

// Weight of input index `i` in output `o`'s interpolation.
fn weight(o: u32, i: u32, a: f32, b: f32, size: u32) -> f32 {
  let t = taps(o, a, b, size);
  return select(0.0, 1.0 - t.t, t.i0 == i) + select(0.0, t.t, t.i1 == i);
}

// Outputs whose interpolation can touch input index i: those with source in (i-1, i+1).
fn out_range(i: u32, a: f32, b: f32, outSize: u32) -> vec2u {
  if (a <= 0.0) { return vec2u(0u, outSize - 1u); }
  let lo = max(0.0, floor((f32(i) - 1.0 - b) / a) - 1.0);
  let hi = min(f32(outSize - 1u), ceil((f32(i) + 1.0 - b) / a) + 1.0);
  return vec2u(u32(lo), u32(hi));
}

// The gradient as a gather: each input pixel sums the output gradients that interpolated it.
@compute @workgroup_size(64)
fn bilinear_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.N * p.IH * p.IW * p.C) { return; }
  let c = i % p.C;
  let at = nhwc_coords(i / p.C, p.IH, p.IW);
  let ix = at.col;
  let iy = at.row;
  let n = at.n;
  let ry = out_range(iy, p.ay, p.by, p.OH);
  let rx = out_range(ix, p.ax, p.bx, p.OW);
  var g = 0.0;
  for (var y = ry.x; y <= ry.y; y++) {
    let wy = weight(y, iy, p.ay, p.by, p.IH);
    if (wy == 0.0) { continue; }
    var row = 0.0;
    for (var x = rx.x; x <= rx.y; x++) {
      let wx = weight(x, ix, p.ax, p.bx, p.IW);
      if (wx != 0.0) { row += wx * src[nhwc_pixel(n, y, x, p.OH, p.OW) * p.C + c]; }
    }
    g += wy * row;
  }
  dst[i] = g;
}

// An RGB image resampled by separable weight tables and framed for a network: output pixel (y, x)
// of the [PH, PW, 3] frame is `fill` outside the middle [pad, pad + OH) x [pad, pad + OW), else
// the sum over the row taps of weight * (the sum over the column taps of weight * src), as the
// host's two-pass resampler computes it (rows of the table: start, count, first weight; the row
// table's OH entries come first, then the column table's OW). Each channel is then normalised as
// (v * gain - mean) / std, with the channel order reversed when `reverse` is 1 (RGB -> BGR).
// NW: the weights' count.
struct ResampleParams {
  IH: u32,
  IW: u32,
  OH: u32,
  OW: u32,
  pad: u32,
  PH: u32,
  PW: u32,
  reverse: u32,
  NW: u32,
  gain: f32,
  fill: f32,
  mean0: f32,
  mean1: f32,
  mean2: f32,
  std0: f32,
  std1: f32,
  std2: f32,
}

@group(0) @binding(0) var<uniform> rp: ResampleParams;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;

@compute @workgroup_size(64)
fn resample_image(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= rp.PH * rp.PW) { return; }
  let y = i / rp.PW;
  let x = i % rp.PW;
  var v = vec3f(rp.fill);
  if ((y >= rp.pad) && (y < rp.pad + rp.OH) && (x >= rp.pad) && (x < rp.pad + rp.OW)) {
    let ty = 3u * (y - rp.pad);
    let tx = 3u * (rp.OH + x - rp.pad);
    let y0 = table[ty];
    let x0 = table[tx];
    let xw = table[tx + 2u];
    v = vec3f(0.0);
    for (var ky = 0u; ky < table[ty + 1u]; ky++) {
      var row = vec3f(0.0);
      let base = (y0 + ky) * rp.IW + x0;
      for (var kx = 0u; kx < table[tx + 1u]; kx++) {
        let s = 3u * (base + kx);
        row += weights[xw + kx] * vec3f(src[s], src[s + 1u], src[s + 2u]);
      }
      v += weights[table[ty + 2u] + ky] * row;
    }
  }
  if (rp.reverse == 1u) { v = v.zyx; }
  let o = (v * rp.gain - vec3f(rp.mean0, rp.mean1, rp.mean2)) / vec3f(rp.std0, rp.std1, rp.std2);
  dst[3u * i] = o.x;
  dst[3u * i + 1u] = o.y;
  dst[3u * i + 2u] = o.z;
}
