// Max pooling over NHWC, with the argmax of every window kept for the backward gather.
// `offsets` = 4 gives OverFeat's fine-stride pooling: the pool is taken at each offset
// (dy, dx) in {0,1}^2 and written as 4 images per input image ([N*4, OH, OW, C], o = dy*2 + dx).
// Windows that run past the input (ceil mode) are clipped.
struct Params {
  N: u32,
  H: u32,
  W: u32,
  C: u32,
  OH: u32,
  OW: u32,
  k: u32,
  stride: u32,
  offsets: u32,  // 1, or 4 for fine-stride pooling
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;  // window-local dy*k + dx
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> amax: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

fn offset_of(o: u32) -> vec2u {
  if (p.offsets == 4u) { return vec2u(o / 2u, o % 2u); }
  return vec2u(0u, 0u);
}

// A thread per output pixel, looping over the channels four at a time: the pixel's index math is
// shared by all its channels (integer division is costly on CPU backends).
@compute @workgroup_size(64)
fn max_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = workgroup_linear(wid, nwg) * 64u + lid;
  if (q >= p.N * p.offsets * p.OH * p.OW) { return; }
  let o = nhwc_coords(q, p.OH, p.OW);
  let ox = o.col;
  let oy = o.row;
  let img = o.n;  // n * offsets + o
  let off = offset_of(img % p.offsets);
  let n = img / p.offsets;
  let y0 = oy * p.stride + off.x;
  let x0 = ox * p.stride + off.y;
  let ky = min(p.k, p.H - y0);  // clipped windows (ceil mode)
  let kx = min(p.k, p.W - x0);
  for (var c = 0u; c < p.C; c++) {
    var best = -3.4e38;
    var arg = 0u;
    for (var a = 0u; a < ky; a++) {
      let row = nhwc_pixel(n, y0 + a, x0, p.H, p.W) * p.C + c;
      for (var b = 0u; b < kx; b++) {
        let v = x[row + b * p.C];
        if (v > best) { best = v; arg = a * p.k + b; }
      }
    }
    y[q * p.C + c] = best;
    argmax[q * p.C + c] = arg;
  }
}

// dx[n, iy, ix, c] = sum of dy over the windows whose argmax is this pixel: a gather, no atomics.
// A thread per input pixel, its channels in a loop.
@compute @workgroup_size(64)
fn max_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = workgroup_linear(wid, nwg) * 64u + lid;
  if (q >= p.N * p.H * p.W) { return; }
  let at = nhwc_coords(q, p.H, p.W);
  let ix = at.col;
  let iy = at.row;
  let n = at.n;
  let s = i32(p.stride);
  let k = i32(p.k);
  for (var c = 0u; c < p.C; c++) { dx[q * p.C + c] = 0.0; }
  for (var o = 0u; o < p.offsets; o++) {
    let off = offset_of(o);
    let ry = i32(iy) - i32(off.x);  // row relative to this offset's grid
    let rx = i32(ix) - i32(off.y);
    if (ry < 0 || rx < 0) { continue; }
    // Windows oy with oy*s <= ry < oy*s + k.
    let oyLo = max(0, (ry - k + s) / s);
    let oyHi = min(i32(p.OH) - 1, ry / s);
    let oxLo = max(0, (rx - k + s) / s);
    let oxHi = min(i32(p.OW) - 1, rx / s);
    let img = n * p.offsets + o;
    for (var oy = oyLo; oy <= oyHi; oy++) {
      for (var ox = oxLo; ox <= oxHi; ox++) {
        let j = nhwc_pixel(img, u32(oy), u32(ox), p.OH, p.OW) * p.C;
        let here = u32((ry - oy * s) * k + (rx - ox * s));
        for (var c = 0u; c < p.C; c++) {
          if (amax[j + c] == here) { dx[q * p.C + c] += dy[j + c]; }
        }
      }
    }
  }
}
