// Elementwise maps. Operands broadcast by index modulo their length, which with channels-last
// (NHWC) layouts covers scalars and per-channel vectors alike.
struct Params {
  n: u32,      // output elements
  na: u32,     // elements of a (a[i % na])
  nb: u32,     // elements of b (b[i % nb])
  alpha: f32,
  beta: f32,
}

const ADD: u32 = 0u;          // alpha*a + beta*b
const MUL: u32 = 1u;          // alpha*a*b
const RELU: u32 = 2u;         // max(a, 0), NaN kept
const RELU_GRAD: u32 = 3u;    // b where a > 0 (a: forward input or output, b: upstream grad)
const SIGMOID: u32 = 4u;      // 1 / (1 + exp(-a))
const SIGMOID_GRAD: u32 = 5u; // b * a * (1 - a) (a: sigmoid output)
const AFFINE: u32 = 6u;       // alpha*a + beta
const MAX: u32 = 7u;          // max(a, b)
const FILL: u32 = 8u;         // beta (a and b unread)
const RELU_CAP_GRAD: u32 = 9u; // b where 0 < a < alpha (ReLU6's gradient with alpha 6)
const ADD_RELU: u32 = 10u;    // max(alpha*a + beta*b, 0), NaN kept (a sum and its ReLU in one pass)
override OP: u32 = ADD;
// Broadcast operands are read at i % n; full-length ones at i (integer division is costly on CPUs).
override BCAST_A: bool = true;
override BCAST_B: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;


@compute @workgroup_size(64)
fn map(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.n) { return; }
  let x = a[select(i, i % p.na, BCAST_A)];
  let y = b[select(i, i % p.nb, BCAST_B)];
  var r: f32;
  switch OP {
    case ADD: { r = p.alpha * x + p.beta * y; }
    case MUL: { r = p.alpha * x * y; }
    case RELU: { r = select(x, 0.0, x <= 0.0); }  // NaN passes through (as in PyTorch), so a divergence shows
    case RELU_GRAD: { r = select(0.0, y, x > 0.0); }
    case SIGMOID: { r = sigmoid(x); }
    case SIGMOID_GRAD: { r = y * x * (1.0 - x); }
    case AFFINE: { r = p.alpha * x + p.beta; }
    case MAX: { r = max(x, y); }
    case FILL: { r = p.beta; }
    case RELU_CAP_GRAD: { r = select(0.0, y, x > 0.0 && x < p.alpha); }
    case ADD_RELU: { let z = p.alpha * x + p.beta * y; r = select(z, 0.0, z <= 0.0); }
    default: { r = 0.0; }
  }
  out[i] = r;
}

struct AccParams { n: u32, na: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> ap: AccParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// dst += alpha * src (gradient accumulation in place).
@compute @workgroup_size(64)
fn accumulate(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= ap.n) { return; }
  dst[i] = dst[i] + ap.alpha * src[i % ap.na];
}
