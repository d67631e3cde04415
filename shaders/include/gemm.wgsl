// The GEMM core of matmul.wgsl and conv2d.wgsl (`//#include gemm`), mirrored by
// src/kernels/tiling.ts. A lane computes R rows x C vec4 column groups of out[rows, cols] =
// A[rows, K] · B[K, cols], accumulating in f32 registers. With every lane on columns (wide outputs)
// a workgroup's rows derive from its id only, so each load of A has one address per workgroup (a
// scalar broadcast on lavapipe, a uniform load on GPUs) and B is read as vec4 along the columns;
// narrow outputs give the other WG / COL_LANES lanes further groups of R rows instead of idling.
//
// A kernel maps its workgroup to a tile (`gemm_tile`), declares `var acc: Acc`, and runs the K loop
// of gemm_kloop.wgsl with its own loads: A at a tile row and k, B's columns [n, n+4) at k (into a
// `BRow`, clamped by `gemm_cols`); conv2d's dW, which walks output pixels, runs its own loop around
// the rank-1 update of gemm_rank1.wgsl. Those fragments are expanded inline in each entry point by
// the build (`//#include gemm_kloop(k0 = ..., a(i, k) = ..., ...)`, scripts/wgsl-include.mjs), not
// called: a function taking the tile by pointer keeps it in memory on SwiftShader, where register
// promotion (src/gpu/unroll.ts) cannot follow it into the call. `gemm_store` writes the tile. The
// including file defines
//   fn mm_write(e: u32, v: f32)   store element e of the output binding
//   fn mm_bias(n: u32) -> f32     the bias of column n (read only when the epilogue adds one)
//   fn mm_col_lanes() -> u32      the column lanes of a narrow layout (COL_LANES = 0), a uniform
//
// Sharing A's loads (SHARE > 0, set by the runtime where it pays, RuntimeOptions.shareLoads): on
// lavapipe every storage load, even one whose address is the same in all lanes, runs as a loop over
// the SIMD lanes, so the R loads of A that every lane makes per k cost R x 8 scalar loads. With all
// lanes of a workgroup on the same rows (wide tiles), lane s of a subgroup loads rows s, s + SHARE,
// ... of the tile (`gemm_own_row`) and each lane reads the R values from their owners (`lane_read`).
//#include lanes
override WG: u32 = 64u;               // lanes per workgroup
override COL_LANES: u32 = 64u;        // lanes along the columns, the others take further row groups; 0: narrow, from mm_col_lanes()
override SHARE: u32 = 0u;             // lanes that share A's loads (at least 4, the smallest subgroup size); 0: none
const R: u32 = 16u;                   // rows per lane
const OWN: u32 = 4u;                  // rows of A a lane loads per k when sharing: R / SHARE at most
const C: u32 = 2u;                    // vec4 column groups per lane
alias Acc = array<array<vec4f, C>, R>;
alias BRow = array<vec4f, C>;         // B[k, n0 .. n0 + 4C)

struct Tile { r0: u32, n0: u32, ok: bool }  // rows [r0, r0 + R), columns [n0, n0 + 4C); ok: r0 < rows

// Lanes along the columns. The narrow layouts (fewer than WG: 1, 2 or 4 of 8) share one pipeline
// and read the count from a uniform, since each pipeline costs seconds of LLVM on lavapipe; a wide
// one (WG) is a constant, its own pipeline, and may share loads.
fn gemm_col_lanes() -> u32 {
  if (COL_LANES == 0u) { return mm_col_lanes(); }
  return COL_LANES;
}

fn gemm_col_groups(cols: u32) -> u32 {
  let lanes = gemm_col_lanes();
  return (cols + 4u * C * lanes - 1u) / (4u * C * lanes);
}

// Workgroup tiles covering a rows x cols output (the workgroups of one K split).
fn gemm_tiles(rows: u32, cols: u32) -> u32 {
  let rowTile = R * (WG / gemm_col_lanes());
  return ((rows + rowTile - 1u) / rowTile) * gemm_col_groups(cols);
}

// Lane `lid`'s rows and columns in workgroup tile t.
fn gemm_tile(t: u32, lid: u32, rows: u32, cols: u32) -> Tile {
  let colGroups = gemm_col_groups(cols);
  let lanes = gemm_col_lanes();
  let wide = COL_LANES == WG;
  let lc = select(lid % lanes, lid, wide);
  let lr = select(lid / lanes, 0u, wide);
  let r0 = ((t / colGroups) * (WG / lanes) + lr) * R;
  return Tile(r0, ((t % colGroups) * lanes + lc) * 4u * C, r0 < rows);
}

// Whether this dispatch shares A's loads: every lane of the workgroup has the tile's rows, and each
// subgroup has at least SHARE lanes (subgroup sizes are powers of two, at least SHARE).
fn gemm_shares() -> bool { return SHARE > 0u && COL_LANES == WG && WG >= SHARE; }

// The tile row that lane `lane` of a subgroup loads as its l-th own row (l * SHARE < R); lanes past
// the tile's R rows repeat its last row.
fn gemm_own_row(t: Tile, lane: u32, l: u32) -> u32 { return t.r0 + min(l * SHARE + lane, R - 1u); }

// Row i of the tile's A values for this k, from the lane that loaded it into its `own` (the divisor
// is never 0: SHARE = 0 compiles these too, and a constant division by zero is a compile error).
fn gemm_shared(own: array<f32, OWN>, i: u32) -> f32 {
  let lanes = max(SHARE, 1u);
  return lane_read(own[i / lanes], i % lanes);
}

// Columns [n, n+4) clamped to the last one: lanes past the edge read valid memory, never stored.
// (Read them as e[0] .. e[3]: wgsl_reflect takes `e.x` or `e.w` for a use of a binding x or w.)
fn gemm_cols(n: u32, cols: u32) -> vec4u {
  return min(vec4u(n, n + 1u, n + 2u, n + 3u), vec4u(cols - 1u));
}

// What a store adds to each value: the bias, then the ReLU clamped at reluMax (6 for ReLU6). From
// uniforms, not overrides: a branch per stored value costs nothing beside the K loop, and every
// bias/ReLU combination shares one pipeline (each pipeline is seconds of LLVM on lavapipe).
struct Epilogue { bias: bool, relu: bool, reluMax: f32 }

fn gemm_epilogue(hasBias: u32, relu: u32, reluMax: f32) -> Epilogue { return Epilogue(hasBias != 0u, relu != 0u, reluMax); }
fn gemm_plain() -> Epilogue { return Epilogue(false, false, 0.0); }

// Stores the tile's rows < rows and columns < cols at element base + m * ld + n, with `ep` applied
// to the whole tile first: each column's bias loaded once (columns past the edge read the last one,
// never stored) and the ReLU on vec4s, outside the store loop's per-element guards.
fn gemm_store(acc: ptr<function, Acc>, t: Tile, rows: u32, cols: u32, base: u32, ld: u32, ep: Epilogue) {
  if (ep.bias) {
    for (var j = 0u; j < C; j++) {
      let n = gemm_cols(t.n0 + 4u * j, cols);
      let b = vec4f(mm_bias(n[0]), mm_bias(n[1]), mm_bias(n[2]), mm_bias(n[3]));
      for (var i = 0u; i < R; i++) { (*acc)[i][j] += b; }
    }
  }
  if (ep.relu) {
    for (var i = 0u; i < R; i++) { for (var j = 0u; j < C; j++) { (*acc)[i][j] = min(max((*acc)[i][j], vec4f(0.0)), vec4f(ep.reluMax)); } }
  }
  for (var i = 0u; i < R; i++) {
    let m = t.r0 + i;
    if (m >= rows) { break; }
    for (var j = 0u; j < C; j++) {
      for (var u = 0u; u < 4u; u++) {
        let n = t.n0 + 4u * j + u;
        if (n < cols) { mm_write(base + m * ld + n, (*acc)[i][j][u]); }
      }
    }
  }
}
