// Reading another lane's value with WGSL's subgroup builtins (the twin of lanes.wgsl).

// This lane's index among the active lanes of its subgroup (called while all lanes are active).
fn lane_index() -> u32 { return subgroupExclusiveAdd(1u); }

// The value `v` of lane `lane` of this subgroup.
fn lane_read(v: f32, lane: u32) -> f32 { return subgroupShuffle(v, lane); }

// Whether `b` holds in any active lane of this subgroup.
fn lane_any(b: bool) -> bool { return subgroupAny(b); }
