// Element loads from an operand stored as f32 in `vec4s` (array<vec4f>) or, when `half`, as IEEE
// halves two per word in `halves` (array<u32>: inference weights); f32 arithmetic either way.
//   at(e)   element e
//   at4(e)  elements [e, e+4), e a multiple of 4
//#params at, at4, vec4s, halves, half
fn at(e: u32) -> f32 {
  if (half) { return unpack2x16float(halves[e >> 1u])[e & 1u]; }
  return vec4s[e >> 2u][e & 3u];
}

fn at4(e: u32) -> vec4f {
  if (half) { return vec4f(unpack2x16float(halves[e >> 1u]), unpack2x16float(halves[(e >> 1u) + 1u])); }
  return vec4s[e >> 2u];
}
