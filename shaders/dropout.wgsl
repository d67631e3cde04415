// Dropout with a counter-based generator: the keep decision for element i is a hash of (seed, i),
// so the backward pass recomputes the mask instead of storing it, and a seed replays exactly.
struct Params { n: u32, seed: u32, rate: f32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// A 32-bit integer hash with good avalanche (lowbias32).
fn hash(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

// y = x * scale where hash(seed, i) keeps the element (with probability 1 - rate), else 0.
// The same entry serves the backward pass with x = upstream gradient.
@compute @workgroup_size(64)
fn dropout(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.n) { return; }
  let u = f32(hash(hash(i) ^ p.seed) >> 8u) * (1.0 / 16777216.0);
  y[i] = select(0.0, x[i] * p.scale, u >= p.rate);
}
