// Float64 CPU references, written independently of the kernels (plain loops, textbook formulas).

/** op(A)·op(B); A is [M,K] (or [K,M] when tA), B is [K,N] (or [N,K] when tB). */
export function matmulRef(A: Float64Array, B: Float64Array, M: number, N: number, K: number, tA = false, tB = false): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (tA ? A[k * M + i]! : A[i * K + k]!) * (tB ? B[j * K + k]! : B[k * N + j]!);
      C[i * N + j] = s;
    }
  }
  return C;
}

export const mapRef = (a: Float64Array, f: (x: number, i: number) => number): Float64Array => a.map(f);

export const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));

export const softplusRef = (z: number): number => Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0);
