// Soft-margin (logistic) loss with per-element weights: w * log(1 + exp(-y * x)), y in {-1, +1}.
struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;  // upstream gradient of the summed loss

// log(1 + exp(z)) without overflow.
fn softplus(z: f32) -> f32 { return max(z, 0.0) + log(1.0 + exp(-abs(z))); }


@compute @workgroup_size(64)
fn soft_margin(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.n) { return; }
  out[i] = w[i] * softplus(-y[i] * x[i]);
}

// d/dx of g * sum(w * softplus(-y x)) = -g w y sigmoid(-y x).
@compute @workgroup_size(64)
fn soft_margin_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.n) { return; }
  out[i] = -g[0] * w[i] * y[i] * sigmoid(-y[i] * x[i]);
}
