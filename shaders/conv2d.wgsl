// 2-D convolution over NHWC activations with weights [KH, KW, Cin, Cout]: forward, input gradient
// and weight gradient, each an implicit GEMM on the GEMM core (shaders/include/gemm.wgsl): a
// workgroup owns R GEMM rows, so the gathered operand has one address per workgroup, and each lane
// C vec4 column groups of the contiguous operand.
//
//   forward   rows = output pixels, cols = Cout, K = KH*KW*Cin           (x gathered, w along Cout)
//   dX        rows = input pixels,  cols = Cin,  K = KH*KW*Cout          (dy gathered, wT along Cin)
//   dW        rows = KH*KW*Cin,     cols = Cout, K = output pixels       (x gathered, dy along Cout)
//
// dW splits K (pixels) into chunks that write partial sums [split, KH*KW*Cin, Cout], summed in a
// fixed order by matmul.reduce_splits: deterministic, no atomics.
//#include gemm

struct Params {
  N: u32,       // images in this dispatch
  H: u32,
  W: u32,
  Cin: u32,
  OH: u32,
  OW: u32,
  Cout: u32,
  KH: u32,
  KW: u32,
  stride: u32,
  padY: u32,    // zero rows above the input (TF SAME may pad more below: OH says how many outputs)
  padX: u32,    // zero columns left of the input
  dil: u32,
  pChunk: u32,  // dW: output pixels per split
  splits: u32,  // dW: number of splits
  split0: u32,  // dW: index of this dispatch's first split (batch chunks dispatch separately)
  tap0: u32,    // forward: first kernel tap (kh * KW + kw) of this dispatch's weight slice
  taps: u32,    // forward: taps in the slice (all of them unless the weights exceed a binding)
  yOff: u32,    // forward: element offset of the output (partial sums of tap slices)
  colLanes: u32, // a narrow lane layout's column lanes (gemm.wgsl)
  hasBias: u32, // forward: the epilogue (gemm.wgsl): add bias[Cout], then ReLU clamped at reluMax
  relu: u32,
  reluMax: f32,
}

override VEC: bool = false;   // columns (Cout, or Cin for dX) % 4 == 0: vec4 loads of the column operand
override RELU_MASK: bool = false;  // dX, dW: the forward had a fused ReLU: dy counts only where its output was > 0
override SAME_TAP: bool = false;  // dW: Cin % R == 0, so a lane's R rows share one kernel tap
override HALF_W: bool = false;    // weights stored as IEEE halves in `wh`, two per word (inference); f32 arithmetic

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;      // forward, dW: [N, H, W, Cin]
@group(0) @binding(2) var<storage, read> w: array<vec4f>;    // forward: [KH, KW, Cin, Cout]; dX: wT [KH, KW, Cout, Cin]
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>; // forward: [N, OH, OW, Cout]; dX: [N, H, W, Cin]; dW: partials
@group(0) @binding(5) var<storage, read> dy: array<f32>;     // dX: [N, OH, OW, Cout]
@group(0) @binding(6) var<storage, read> dy4: array<vec4f>;  // dW: [N, OH, OW, Cout]
@group(0) @binding(7) var<storage, read> act: array<f32>;     // with RELU_MASK: the forward output, dy's shape
@group(0) @binding(8) var<storage, read> act4: array<vec4f>;
@group(0) @binding(9) var<storage, read> wh: array<u32>;       // with HALF_W: w's elements as packed halves

fn mm_write(e: u32, v: f32) { y[e] = v; }
fn mm_bias(n: u32) -> f32 { return bias[n]; }
fn mm_col_lanes() -> u32 { return p.colLanes; }

fn dy_at(e: u32) -> f32 {
  if (RELU_MASK) { return select(0.0, dy[e], act[e] > 0.0); }
  return dy[e];
}

fn dy4_masked(e4: u32) -> vec4f {
  if (RELU_MASK) { return select(vec4f(0.0), dy4[e4], act4[e4] > vec4f(0.0)); }
  return dy4[e4];
}

//#include half_cols(at = w_at, at4 = w4_at, vec4s = w, halves = wh, half = HALF_W)

fn dy4_at(e: u32) -> f32 {
  if (RELU_MASK) { return select(0.0, dy4[e >> 2u][e & 3u], act4[e >> 2u][e & 3u] > 0.0); }
  return dy4[e >> 2u][e & 3u];
}

// Four consecutive columns [n, n+4) of row `row` of the [rows, cols] matrix held in `w`.
fn load_w(row: u32, cols: u32, n: u32) -> vec4f {
  if (VEC) { return w4_at(row * cols + min(n, cols - 4u)); }
  let e = row * cols + gemm_cols(n, cols);
  return vec4f(w_at(e[0]), w_at(e[1]), w_at(e[2]), w_at(e[3]));
}

fn load_dy4(row: u32, cols: u32, n: u32) -> vec4f {
  if (VEC) { return dy4_masked((row * cols + min(n, cols - 4u)) >> 2u); }
  let e = row * cols + gemm_cols(n, cols);
  return vec4f(dy4_at(e[0]), dy4_at(e[1]), dy4_at(e[2]), dy4_at(e[3]));
}

// dW: channel `ch` of input pixel (img, iy, ix), 0 in the padding.
fn x_at(img: u32, iy: i32, ix: i32, ch: u32) -> f32 {
  let ok = (iy >= 0) & (iy < i32(p.H)) & (ix >= 0) & (ix < i32(p.W));
  return select(0.0, x[select(0u, nhwc_pixel(img, u32(iy), u32(ix), p.H, p.W) * p.Cin + ch, ok)], ok);
}

// The lane's tile of a rows x cols output (one K split).
fn tile(wid: vec3u, nwg: vec3u, lid: u32, rows: u32, cols: u32) -> Tile {
  return gemm_tile(workgroup_linear(wid, nwg), lid, rows, cols);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_index();  // while every lane is active
  let rows = p.N * p.OH * p.OW;
  let t = tile(wid, nwg, lid, rows, p.Cout);
  if (!t.ok) { return; }
  // Sharing A (gemm.wgsl), slot l < OWN holds the lane's own row l; otherwise slot i is tile row i.
  let share = gemm_shares();
  // Conditions in R-loops use & and | (no short circuit): those loops are unrolled on SwiftShader
  // (src/gpu/unroll.ts), and 16 unrolled short-circuit chains crash its compiler (lintUnroll says so).
  var oy: array<i32, R>;   // top-left input coordinate of each slot's window
  var ox: array<i32, R>;
  var img: array<u32, R>;  // the slot's image
  for (var i = 0u; i < R; i++) {
    let o = nhwc_coords(min(select(t.r0 + i, gemm_own_row(t, lane, i), share), rows - 1u), p.OH, p.OW);
    img[i] = o.n;
    oy[i] = i32(o.row * p.stride) - i32(p.padY);
    ox[i] = i32(o.col * p.stride) - i32(p.padX);
  }
  var acc: Acc;
  // Taps [tap0, tap0 + taps): the weight binding holds just their rows.
  for (var tap = p.tap0; tap < p.tap0 + p.taps; tap++) {
    let kh = tap / p.KW;
    let kw = tap % p.KW;
    var base: array<u32, R>;
    var ok: array<bool, R>;
    for (var i = 0u; i < R; i++) {
      let iy = oy[i] + i32(kh * p.dil);
      let ix = ox[i] + i32(kw * p.dil);
      ok[i] = (iy >= 0) & (iy < i32(p.H)) & (ix >= 0) & (ix < i32(p.W));
      base[i] = select(0u, nhwc_pixel(img[i], u32(iy), u32(ix), p.H, p.W) * p.Cin, ok[i]);
    }
    let wrow = (tap - p.tap0) * p.Cin;
    //#include gemm_kloop(k0 = 0u, k1 = p.Cin, b(k, n) = load_w(wrow + k, p.Cout, n),
    //  a(i, k) = select(0.0, x[base[i] + k], ok[i]), a_own(l, k) = select(0.0, x[base[l] + k], ok[l]))
  }
  gemm_store(&acc, t, rows, p.Cout, p.yOff, p.Cout, gemm_epilogue(p.hasBias, p.relu, p.reluMax));
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_index();  // while every lane is active
  let rows = p.N * p.H * p.W;
  let t = tile(wid, nwg, lid, rows, p.Cin);
  if (!t.ok) { return; }
  let share = gemm_shares();  // as in forward: slot l < OWN holds the lane's own row l when sharing
  var iyp: array<i32, R>;  // input coordinate plus padding
  var ixp: array<i32, R>;
  var img: array<u32, R>;  // the slot's image
  for (var i = 0u; i < R; i++) {
    let q = nhwc_coords(min(select(t.r0 + i, gemm_own_row(t, lane, i), share), rows - 1u), p.H, p.W);
    img[i] = q.n;
    iyp[i] = i32(q.row + p.padY);
    ixp[i] = i32(q.col + p.padX);
  }
  let s = i32(p.stride);
  var acc: Acc;
  for (var kh = 0u; kh < p.KH; kh++) {
    for (var kw = 0u; kw < p.KW; kw++) {
      var base: array<u32, R>;
      var ok: array<bool, R>;
      var anyTap = false;
      for (var i = 0u; i < R; i++) {
        // Output pixel whose window puts tap (kh, kw) on this input pixel, if any.
        let ty = iyp[i] - i32(kh * p.dil);
        let tx = ixp[i] - i32(kw * p.dil);
        let oy = ty / s;
        let ox = tx / s;
        ok[i] = (ty >= 0) & (tx >= 0) & (oy * s == ty) & (ox * s == tx) & (oy < i32(p.OH)) & (ox < i32(p.OW));
        base[i] = select(0u, nhwc_pixel(img[i], u32(oy), u32(ox), p.OH, p.OW) * p.Cout, ok[i]);
        anyTap = anyTap | ok[i];
      }
      // Strided convolutions skip most taps; the lanes sharing loads skip together.
      if (share) {
        if (!lane_any(anyTap)) { continue; }
      } else if (!anyTap) {
        continue;
      }
      let wrow = (kh * p.KW + kw) * p.Cout;
      //#include gemm_kloop(k0 = 0u, k1 = p.Cout, b(k, n) = load_w(wrow + k, p.Cin, n),
      //  a(i, k) = select(0.0, dy_at(base[i] + k), ok[i]), a_own(l, k) = select(0.0, dy_at(base[l] + k), ok[l]))
    }
  }
  gemm_store(&acc, t, rows, p.Cin, 0u, p.Cin, gemm_plain());
}

@compute @workgroup_size(WG)
fn backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_index();  // while every lane is active
  let rows = p.KH * p.KW * p.Cin;
  let tiles = gemm_tiles(rows, p.Cout);
  let g = workgroup_linear(wid, nwg);
  let split = g / tiles;
  if (split >= p.splits) { return; }
  let t = gemm_tile(g % tiles, lid, rows, p.Cout);
  if (!t.ok) { return; }

  var dyy: array<i32, R>;  // tap offset (kh*dil - pad) of each row
  var dxx: array<i32, R>;
  var ch: array<u32, R>;
  for (var i = 0u; i < R; i++) {
    let r = min(t.r0 + i, rows - 1u);
    let tap = r / p.Cin;
    ch[i] = r % p.Cin;
    dyy[i] = i32((tap / p.KW) * p.dil) - i32(p.padY);
    dxx[i] = i32((tap % p.KW) * p.dil) - i32(p.padX);
  }
  let pixels = p.N * p.OH * p.OW;
  let q0 = split * p.pChunk;
  let q1 = min(pixels, q0 + p.pChunk);
  var acc: Acc;
  if (q0 < q1) {
    // Walk output pixels (n, oy, ox) incrementally from q0.
    let o = nhwc_coords(q0, p.OH, p.OW);
    var n = o.n;
    var oy = o.row;
    var ox = o.col;
    for (var q = q0; q < q1; q++) {
      var bv: BRow;
      for (var j = 0u; j < C; j++) { bv[j] = load_dy4(q, p.Cout, t.n0 + 4u * j); }
      let sy = i32(oy * p.stride);
      let sx = i32(ox * p.stride);
      if (SAME_TAP) {
        let iy = sy + dyy[0];
        let ix = sx + dxx[0];
        if ((iy >= 0) & (iy < i32(p.H)) & (ix >= 0) & (ix < i32(p.W))) {
          let base = nhwc_pixel(n, u32(iy), u32(ix), p.H, p.W) * p.Cin + ch[0];
          if (gemm_shares()) {
            // The tile's R rows are R consecutive channels of one pixel: lanes load their own and share.
            //#include gemm_rank1_shared(a_own(l) = x[base + min(l * SHARE + lane, R - 1u)], brow = bv)
          } else {
            //#include gemm_rank1(a(i) = x[base + i], brow = bv)
          }
        }
      } else {
        //#include gemm_rank1(a(i) = x_at(n, sy + dyy[i], sx + dxx[i], ch[i]), brow = bv)
      }
      ox++;
      if (ox == p.OW) {
        ox = 0u;
        oy++;
        if (oy == p.OH) { oy = 0u; n++; }
      }
    }
  }
  gemm_store(&acc, t, rows, p.Cout, (p.split0 + split) * rows * p.Cout, p.Cout, gemm_plain());
}

// dX for at most 4 input channels (an RGB first layer), where column blocking would leave most
// lanes idle: a lane per input pixel with all its channels in one vec4. It reads the forward-layout
// weights [KH, KW, Cin, Cout] along Cout, with one address per workgroup.
@compute @workgroup_size(64)
fn backward_input_narrow(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let m = workgroup_linear(wid, nwg) * 64u + lid;
  if (m >= p.N * p.H * p.W) { return; }
  let q = nhwc_coords(m, p.H, p.W);
  let iyp = i32(q.row + p.padY);
  let ixp = i32(q.col + p.padX);
  let s = i32(p.stride);
  var acc = vec4f(0.0);
  for (var kh = 0u; kh < p.KH; kh++) {
    for (var kw = 0u; kw < p.KW; kw++) {
      let ty = iyp - i32(kh * p.dil);
      let tx = ixp - i32(kw * p.dil);
      let oy = ty / s;
      let ox = tx / s;
      if (ty < 0 || tx < 0 || oy * s != ty || ox * s != tx || oy >= i32(p.OH) || ox >= i32(p.OW)) { continue; }
      let base = nhwc_pixel(q.n, u32(oy), u32(ox), p.OH, p.OW) * p.Cout;
      let tap = (kh * p.KW + kw) * p.Cin;
      for (var c = 0u; c < p.Cout; c += 4u) {
        var d: vec4f;
        if (VEC) {
          d = dy4_masked((base + c) >> 2u);
        } else {
          let e = base + gemm_cols(c, p.Cout);
          d = vec4f(dy_at(e[0]), dy_at(e[1]), dy_at(e[2]), dy_at(e[3]));
          d *= vec4f(1.0, f32(c + 1u < p.Cout), f32(c + 2u < p.Cout), f32(c + 3u < p.Cout));
        }
        for (var ci = 0u; ci < 4u; ci++) {
          if (ci < p.Cin) { acc[ci] += dot(d, load_w(tap + ci, p.Cout, c)); }
        }
      }
    }
  }
  for (var c = 0u; c < p.Cin; c++) { y[m * p.Cin + c] = acc[c]; }
}
