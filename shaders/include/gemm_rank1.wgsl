// The tile's rank-1 update for one k, acc[i][j] += A[row i, k] * B[k, columns of j], expanded inline
// by the K loops (gemm_kloop.wgsl, conv2d's dW): `a(i)` is A at the tile's row i, `brow` the BRow of
// B's row k. Inline, not a function: see gemm.wgsl.
//#params a(i), brow
for (var i = 0u; i < R; i++) { let ai = vec4f(a(i)); for (var j = 0u; j < C; j++) { acc[i][j] = fma(ai, brow[j], acc[i][j]); } }
