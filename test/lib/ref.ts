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

// ---- vision (NHWC) -------------------------------------------------------------------------------

export interface ConvRefGeometry {
  N: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
  KH: number;
  KW: number;
  stride: number;
  pad: number;
  dil: number;
}

export function convOut(g: ConvRefGeometry): [number, number] {
  return [Math.floor((g.H + 2 * g.pad - g.dil * (g.KH - 1) - 1) / g.stride) + 1, Math.floor((g.W + 2 * g.pad - g.dil * (g.KW - 1) - 1) / g.stride) + 1];
}

/** Direct convolution: x [N,H,W,Cin], w [KH,KW,Cin,Cout], zero padding. */
export function conv2dRef(x: Float64Array, w: Float64Array, b: Float64Array | null, g: ConvRefGeometry, relu = false): Float64Array {
  const [OH, OW] = convOut(g);
  const y = new Float64Array(g.N * OH * OW * g.Cout);
  for (let n = 0; n < g.N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let co = 0; co < g.Cout; co++) {
          let s = b ? b[co]! : 0;
          for (let kh = 0; kh < g.KH; kh++) {
            const ih = oh * g.stride - g.pad + kh * g.dil;
            if (ih < 0 || ih >= g.H) continue;
            for (let kw = 0; kw < g.KW; kw++) {
              const iw = ow * g.stride - g.pad + kw * g.dil;
              if (iw < 0 || iw >= g.W) continue;
              for (let ci = 0; ci < g.Cin; ci++) s += x[((n * g.H + ih) * g.W + iw) * g.Cin + ci]! * w[((kh * g.KW + kw) * g.Cin + ci) * g.Cout + co]!;
            }
          }
          y[((n * OH + oh) * OW + ow) * g.Cout + co] = relu ? Math.max(0, s) : s;
        }
  return y;
}

/**
 * Every pairing of an output pixel with a kernel tap whose input pixel lies inside the image, as the
 * element offsets of that output pixel, of that input pixel and of the tap's weight rows.
 */
function convTaps(g: ConvRefGeometry, f: (out: number, inp: number, tap: number) => void): void {
  const [OH, OW] = convOut(g);
  for (let n = 0; n < g.N; n++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++)
        for (let kh = 0; kh < g.KH; kh++)
          for (let kw = 0; kw < g.KW; kw++) {
            const iy = oy * g.stride - g.pad + kh * g.dil,
              ix = ox * g.stride - g.pad + kw * g.dil;
            if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
            f(((n * OH + oy) * OW + ox) * g.Cout, ((n * g.H + iy) * g.W + ix) * g.Cin, (kh * g.KW + kw) * g.Cin * g.Cout);
          }
}

/** The input gradient of a convolution without ReLU, given the output's gradient G [N,OH,OW,Cout]. */
export function conv2dInputGradRef(G: Float64Array, w: Float64Array, g: ConvRefGeometry): Float64Array {
  const dx = new Float64Array(g.N * g.H * g.W * g.Cin);
  convTaps(g, (out, inp, tap) => {
    for (let ci = 0; ci < g.Cin; ci++) {
      let s = 0;
      for (let co = 0; co < g.Cout; co++) s += G[out + co]! * w[tap + ci * g.Cout + co]!;
      dx[inp + ci]! += s;
    }
  });
  return dx;
}

/** The weight gradient of a convolution without ReLU, given the output's gradient G [N,OH,OW,Cout]. */
export function conv2dWeightGradRef(x: Float64Array, G: Float64Array, g: ConvRefGeometry): Float64Array {
  const dw = new Float64Array(g.KH * g.KW * g.Cin * g.Cout);
  convTaps(g, (out, inp, tap) => {
    for (let ci = 0; ci < g.Cin; ci++) {
      const xv = x[inp + ci]!;
      for (let co = 0; co < g.Cout; co++) dw[tap + ci * g.Cout + co]! += xv * G[out + co]!;
    }
  });
  return dw;
}

/** Max pooling with window k, stride s, offset (oy, ox) of the window grid, output size given. */
export function maxPoolRef(
  x: Float64Array,
  N: number,
  H: number,
  W: number,
  C: number,
  k: number,
  s: number,
  OH: number,
  OW: number,
  oy = 0,
  ox = 0,
): Float64Array {
  const y = new Float64Array(N * OH * OW * C);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++)
        for (let c = 0; c < C; c++) {
          let m = -Infinity;
          for (let a = 0; a < k; a++)
            for (let b = 0; b < k; b++) {
              const r = i * s + oy + a,
                q = j * s + ox + b;
              if (r < H && q < W) m = Math.max(m, x[((n * H + r) * W + q) * C + c]!);
            }
          y[((n * OH + i) * OW + j) * C + c] = m;
        }
  return y;
}

/** Bilinear resampling, align-corners or half-pixel (PyTorch align_corners=False), NHWC. */
export function resizeRef(x: Float64Array, N: number, IH: number, IW: number, C: number, OH: number, OW: number, align: boolean): Float64Array {
  const src = (o: number, inS: number, outS: number) => {
    const s = align ? (outS > 1 ? (o * (inS - 1)) / (outS - 1) : 0) : Math.max(0, ((o + 0.5) * inS) / outS - 0.5);
    const i0 = Math.min(Math.floor(s), inS - 1);
    return [i0, Math.min(i0 + 1, inS - 1), s - i0] as const;
  };
  const y = new Float64Array(N * OH * OW * C);
  for (let n = 0; n < N; n++)
    for (let r = 0; r < OH; r++) {
      const [y0, y1, ty] = src(r, IH, OH);
      for (let q = 0; q < OW; q++) {
        const [x0, x1, tx] = src(q, IW, OW);
        for (let c = 0; c < C; c++) {
          const at = (i: number, j: number) => x[((n * IH + i) * IW + j) * C + c]!;
          const top = at(y0, x0) * (1 - tx) + at(y0, x1) * tx;
          const bot = at(y1, x0) * (1 - tx) + at(y1, x1) * tx;
          y[((n * OH + r) * OW + q) * C + c] = top * (1 - ty) + bot * ty;
        }
      }
    }
  return y;
}

/** Nearest-neighbour upsampling of NHWC x by an integer factor f. */
export function upsampleNearestRef(x: Float64Array, N: number, H: number, W: number, C: number, f: number): Float64Array {
  const out = new Float64Array(N * H * f * W * f * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H * f; y++)
      for (let xx = 0; xx < W * f; xx++)
        for (let c = 0; c < C; c++) out[((n * H * f + y) * W * f + xx) * C + c] = x[((n * H + Math.floor(y / f)) * W + Math.floor(xx / f)) * C + c]!;
  return out;
}

/** Square windows [image, top, left] of side s cut from NHWC maps, zero off the map. */
export function cropWindowsRef(x: Float64Array, H: number, W: number, C: number, boxes: [number, number, number][], s: number): Float64Array {
  const out = new Float64Array(boxes.length * s * s * C);
  boxes.forEach(([b, top, left], i) => {
    for (let y = 0; y < s; y++)
      for (let xx = 0; xx < s; xx++) {
        const r = top + y,
          c0 = left + xx;
        if (r < 0 || r >= H || c0 < 0 || c0 >= W) continue;
        for (let c = 0; c < C; c++) out[((i * s + y) * s + xx) * C + c] = x[((b * H + r) * W + c0) * C + c]!;
      }
  });
  return out;
}
