// Pastes proposal masks into image coordinates: each m x m mask (logits) is resampled bilinearly
// to its window, thresholded, and written as bits, column-major over the window's part of the
// image (32 rows a word), ready for run-length encoding on the host.
struct Params {
  words: u32,     // total output words
  n: u32,         // proposals
  m: u32,         // mask side
  threshold: f32, // logit threshold
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;   // [n, m*m]
@group(0) @binding(2) var<storage, read> boxes: array<u32>;    // [n, 4]: x0, y0, h, first word (box in image pixels)
@group(0) @binding(3) var<storage, read> windows: array<f32>;  // [n, 4]: window x, y, side (image pixels), unused
@group(0) @binding(4) var<storage, read_write> bits: array<u32>;

@compute @workgroup_size(64)
fn paste(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_linear(wid, nwg) * 64u + lid;
  if (i >= p.words) { return; }
  // The proposal owning word i: the last one whose first word is <= i.
  var lo = 0u;
  var hi = p.n;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (boxes[mid * 4u + 3u] <= i) { lo = mid; } else { hi = mid; }
  }
  let k = lo;
  let x0 = boxes[k * 4u];
  let y0 = boxes[k * 4u + 1u];
  let h = boxes[k * 4u + 2u];
  let perCol = (h + 31u) / 32u;
  let local = i - boxes[k * 4u + 3u];
  let x = x0 + local / perCol;
  let yStart = y0 + (local % perCol) * 32u;
  let wx = windows[k * 4u];
  let wy = windows[k * 4u + 1u];
  let scale = f32(p.m) / windows[k * 4u + 2u];
  let last = f32(p.m - 1u);
  // Column weights are shared by the 32 pixels of the word.
  let u = clamp((f32(x) + 0.5 - wx) * scale - 0.5, 0.0, last);
  let u0 = u32(floor(u));
  let u1 = min(u0 + 1u, p.m - 1u);
  let tu = u - f32(u0);
  let base = k * p.m * p.m;
  var word = 0u;
  for (var b = 0u; b < 32u; b++) {
    let y = yStart + b;
    if (y >= y0 + h) { break; }
    let v = clamp((f32(y) + 0.5 - wy) * scale - 0.5, 0.0, last);
    let v0 = u32(floor(v));
    let v1 = min(v0 + 1u, p.m - 1u);
    let tv = v - f32(v0);
    let top = mix(logits[base + v0 * p.m + u0], logits[base + v0 * p.m + u1], tu);
    let bot = mix(logits[base + v1 * p.m + u0], logits[base + v1 * p.m + u1], tu);
    if (mix(top, bot, tv) >= p.threshold) { word |= 1u << b; }
  }
  bits[i] = word;
}
