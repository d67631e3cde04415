// Prepended to every kernel family by the build (scripts/build.mjs). Grids are 1-D; the runtime
// folds a count over 65,535 into x, y and z, so kernels read their logical workgroup index here and
// guard the tail themselves.
fn workgroup_linear(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}

// Logistic function, split by sign so that exp never overflows. (Its parameter is not called x:
// see the note on binding names below.)
fn sigmoid(logit: f32) -> f32 {
  if (logit >= 0.0) { return 1.0 / (1.0 + exp(-logit)); }
  let e = exp(logit);
  return e / (1.0 + e);
}

// NHWC addressing. Pixel (n, row, col) of a batch of height x width images is number
// (n * height + row) * width + col, and its channel c is element pixel * channels + c.
// (Helpers avoid the names kernels give their bindings, x, y, w...: wgsl_reflect takes any such
// identifier, a parameter or a member name too, for a use of the binding.)
fn nhwc_pixel(n: u32, row: u32, col: u32, height: u32, width: u32) -> u32 {
  return (n * height + row) * width + col;
}

struct Pixel { n: u32, row: u32, col: u32 }

// The image, row and column of pixel number q of a batch of height x width images.
fn nhwc_coords(q: u32, height: u32, width: u32) -> Pixel {
  let r = q % (height * width);
  return Pixel(q / (height * width), r / width, r % width);
}
