// The rank-1 update (gemm_rank1.wgsl) where the lanes of a subgroup share A's loads (gemm.wgsl,
// SHARE): `a_own(l)` is A at the lane's l-th own row (gemm_own_row), loaded for l * SHARE < R.
//#params a_own(l), brow
var own: array<f32, OWN>;
for (var l = 0u; l < OWN; l++) { if (l * SHARE < R) { own[l] = a_own(l); } }
//#include gemm_rank1(a(i) = gemm_shared(own, i), brow = brow)
