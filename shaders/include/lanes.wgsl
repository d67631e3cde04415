// Reading another lane's value, for kernels that share loads across a subgroup (`SHARE` in
// gemm.wgsl). This plain version is what compiles without subgroups, where SHARE stays 0 and these
// are never reached; its twin lanes.subgroups.wgsl has the real ones (see scripts/build.mjs).

// This lane's index among the active lanes of its subgroup (called while all lanes are active).
fn lane_index() -> u32 { return 0u; }

// The value `v` of lane `lane` of this subgroup.
fn lane_read(v: f32, lane: u32) -> f32 { return v; }

// Whether `b` holds in any active lane of this subgroup.
fn lane_any(b: bool) -> bool { return b; }
