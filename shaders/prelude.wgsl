// Prepended to every kernel family. Grids are 1-D; the runtime folds a count over 65,535 into
// x, y and z, so kernels read their logical workgroup index here and guard the tail themselves.
fn workgroup_linear(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}

// Logistic function, split by sign so that exp never overflows.
fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}
