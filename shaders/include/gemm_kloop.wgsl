// The K loop of the GEMM core (gemm.wgsl), acc += A[tile rows, k0 .. k1) · B[k0 .. k1, tile columns],
// expanded inline in each kernel's entry point (scripts/wgsl-include.mjs) with the kernel's loads:
//   a(i, k)      A at the tile's row i (t.r0 + i) and k
//   a_own(l, k)  A at the lane's l-th own row (gemm_own_row) and k, when sharing (l * SHARE < R)
//   b(k, n)      B[k, n .. n + 4) as a vec4f (columns clamped, as gemm_cols does)
// It reads the kernel's `t` (Tile) and `acc` (Acc), and declares k, b0, b1, bv, o0, o1, own, a0,
// a1, ai, i, j and l (an argument using one of those is refused by the build).
//#params k0, k1, a(i, k), a_own(l, k), b(k, n)
if (gemm_shares()) {
  // Two k per trip: lavapipe blends each loop-carried value with the lanes' mask once per trip
  // (the runtime compiles the twin with its registers promoted, which keeps both k's tile in registers).
  var k = k0;
  for (; k + 1u < k1; k += 2u) {
    var b0: BRow;
    var b1: BRow;
    for (var j = 0u; j < C; j++) { b0[j] = b(k, t.n0 + 4u * j); b1[j] = b(k + 1u, t.n0 + 4u * j); }
    var o0: array<f32, OWN>;
    var o1: array<f32, OWN>;
    for (var l = 0u; l < OWN; l++) {
      if (l * SHARE < R) { o0[l] = a_own(l, k); o1[l] = a_own(l, k + 1u); }
    }
    for (var i = 0u; i < R; i++) {
      let a0 = vec4f(gemm_shared(o0, i));
      let a1 = vec4f(gemm_shared(o1, i));
      for (var j = 0u; j < C; j++) { acc[i][j] = fma(a1, b1[j], fma(a0, b0[j], acc[i][j])); }
    }
  }
  if (k < k1) {
    var bv: BRow;
    for (var j = 0u; j < C; j++) { bv[j] = b(k, t.n0 + 4u * j); }
    //#include gemm_rank1_shared(a_own(l) = a_own(l, k), brow = bv)
  }
} else {
  for (var k = k0; k < k1; k++) {
    var bv: BRow;
    for (var j = 0u; j < C; j++) { bv[j] = b(k, t.n0 + 4u * j); }
    //#include gemm_rank1(a(i) = a(i, k), brow = bv)
  }
}
