// SGD with Torch optim.sgd semantics: g += wd * theta; v = g on the first step, else
// v = momentum * v + g (no dampening, no Nesterov); theta -= lr * v.
struct Params { n: u32, lr: f32, momentum: f32, weightDecay: f32, first: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> theta: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(64)
fn sgd(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.n) { return; }
  let t = theta[i];
  var g = grad[i] + p.weightDecay * t;
  if (p.momentum != 0.0) {
    if (p.first == 1u) { velocity[i] = g; } else { velocity[i] = p.momentum * velocity[i] + g; }
    g = velocity[i];
  }
  theta[i] = t - p.lr * g;
}
