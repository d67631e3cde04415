// Launchers for shaders/layout.wgsl: transposes, fine-stride interleaving, channel concat and slices,
// row gathers, nearest upsampling, pixel shuffles, window crops, and the f32 -> f16 cast of weights.
import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

const transposeKernel = kernel<{ B: number; rows: number; cols: number }>({
  shader: 'layout',
  entry: 'transpose',
  workgroups: (p) => ceilDiv(p.B * p.rows * p.cols, 64),
  sizes: (p) => ({ src: p.B * p.rows * p.cols, dst: p.B * p.rows * p.cols }),
});

type InterleaveParams = { N: number; h: number; w: number; C: number };
const sizes = (p: InterleaveParams) => ({ src: p.N * 4 * p.h * p.w * p.C, dst: p.N * 4 * p.h * p.w * p.C });
const interleaveKernel = kernel<InterleaveParams>({ shader: 'layout', entry: 'interleave', workgroups: (p) => ceilDiv(sizes(p).dst, 64), sizes });
const deinterleaveKernel = kernel<InterleaveParams>({ shader: 'layout', entry: 'deinterleave', workgroups: (p) => ceilDiv(sizes(p).dst, 64), sizes });

/** dst[b, c, r] = src[b, r, c] for a batch of B row-major [rows, cols] matrices. */
export function transpose(rt: Runtime, src: BufferView, dst: BufferView, B: number, rows: number, cols: number): void {
  const per = rows * cols * 4;
  rt.run(transposeKernel, { params: { B, rows, cols }, bind: { src, dst }, split: { items: B, per: { src: per, dst: per }, chunk: (_, n) => ({ B: n }) } });
}

/** [N*4, h, w, C] (image n*4 + dy*2 + dx) -> [N, 2h, 2w, C], or back with `inverse`. */
export function interleave(rt: Runtime, src: BufferView, dst: BufferView, p: InterleaveParams, inverse = false): void {
  const per = 4 * p.h * p.w * p.C * 4;
  rt.run(inverse ? deinterleaveKernel : interleaveKernel, {
    params: p,
    bind: { src, dst },
    split: { items: p.N, per: { src: per, dst: per }, chunk: (_, N) => ({ N }) },
  });
}

type ChannelParams = { rows: number; ca: number; cb: number; c0: number };

const concatKernel = kernel<ChannelParams>({
  shader: 'layout',
  entry: 'concat_channels',
  workgroups: (p) => ceilDiv(p.rows * (p.ca + p.cb), 64),
  sizes: (p) => ({ src: p.rows * p.ca, src2: p.rows * p.cb, dst: p.rows * (p.ca + p.cb) }),
});

const sliceKernel = kernel<ChannelParams>({
  shader: 'layout',
  entry: 'slice_channels',
  workgroups: (p) => ceilDiv(p.rows * p.cb, 64),
  sizes: (p) => ({ src: p.rows * p.ca, dst: p.rows * p.cb }),
});

const gatherKernel = kernel<{ n: number; cols: number; rows: number }>({
  shader: 'layout',
  entry: 'gather_rows',
  workgroups: (p) => ceilDiv(p.n * p.cols, 64),
  sizes: (p) => ({ index: p.n, dst: p.n * p.cols, src: p.rows * p.cols }),
});

/** dst [rows, ca + cb] = a [rows, ca] beside b [rows, cb]. */
export function concatChannels(rt: Runtime, a: BufferView, b: BufferView, dst: BufferView, rows: number, ca: number, cb: number): void {
  rt.run(concatKernel, {
    params: { rows, ca, cb, c0: 0 },
    bind: { src: a, src2: b, dst },
    split: { items: rows, per: { src: ca * 4, src2: cb * 4, dst: (ca + cb) * 4 }, chunk: (_, n) => ({ rows: n }) },
  });
}

/** dst [rows, width] = channels [c0, c0 + width) of src [rows, cols]. */
export function sliceChannels(rt: Runtime, src: BufferView, dst: BufferView, rows: number, cols: number, c0: number, width: number): void {
  rt.run(sliceKernel, {
    params: { rows, ca: cols, cb: width, c0 },
    bind: { src, dst },
    split: { items: rows, per: { src: cols * 4, dst: width * 4 }, chunk: (_, n) => ({ rows: n }) },
  });
}

/** Rows [srcRow, srcRow + rows) of src to rows from dstRow of dst, `rowBytes` each (a copy command, no binding limit). */
export function copyRows(rt: Runtime, src: BufferView, srcRow: number, dst: BufferView, dstRow: number, rows: number, rowBytes: number): void {
  if (rows === 0 || rowBytes === 0) return;
  const at = (v: BufferView, row: number) => ({ buffer: v.buffer, offset: v.offset + row * rowBytes, size: rows * rowBytes });
  rt.copy(at(src, srcRow), at(dst, dstRow), rows * rowBytes);
}

/** dst [n, cols] = rows index[0..n) of src [rows, cols]. */
export function gatherRows(rt: Runtime, src: BufferView, index: BufferView, dst: BufferView, rows: number, n: number, cols: number): void {
  rt.run(gatherKernel, { params: { n, cols, rows }, bind: { src, index, dst } });
}

const toHalfKernel = kernel<{ n: number }>({
  shader: 'layout',
  entry: 'to_half',
  workgroups: (p) => ceilDiv(p.n, 128),
  sizes: (p) => ({ src: p.n, halves: ceilDiv(p.n, 2) }),
});

/** dst (u32 words, two IEEE halves each) = the n f32 elements of src, rounded to f16. */
export function toHalf(rt: Runtime, src: BufferView, dst: BufferView, n: number): void {
  rt.run(toHalfKernel, {
    params: { n },
    bind: { src, halves: dst },
    split: { items: ceilDiv(n, 2), per: { src: 8, halves: 4 }, chunk: (w0, words) => ({ n: Math.min(2 * words, n - 2 * w0) }) },
  });
}

type UpsampleParams = { N: number; h: number; w: number; C: number; f: number };
const upSizes = (p: UpsampleParams) => ({ src: p.N * p.h * p.w * p.C * (p.f * p.f), dst: p.N * p.h * p.w * p.C * (p.f * p.f) });
const upsampleKernel = kernel<UpsampleParams>({
  shader: 'layout',
  entry: 'upsample_nearest',
  workgroups: (p) => ceilDiv(p.N * p.h * p.w * p.C, 64),
  sizes: (p) => ({ src: p.N * p.h * p.w * p.C, dst: upSizes(p).dst }),
});
const upsampleGradKernel = kernel<UpsampleParams>({
  shader: 'layout',
  entry: 'upsample_nearest_grad',
  workgroups: (p) => ceilDiv(p.N * p.h * p.w * p.C, 64),
  sizes: (p) => ({ src: upSizes(p).src, dst: p.N * p.h * p.w * p.C }),
});

type ShuffleParams = { N: number; h: number; w: number; C: number };
const shuffleKernel = (entry: string) =>
  kernel<ShuffleParams>({
    shader: 'layout',
    entry,
    workgroups: (p) => ceilDiv(p.N * p.h, 64), // a lane per input row
    sizes: (p) => ({ src: 4 * p.N * p.h * p.w * p.C, dst: 4 * p.N * p.h * p.w * p.C }),
  });
const depthToSpaceKernel = shuffleKernel('depth_to_space'),
  spaceToDepthKernel = shuffleKernel('space_to_depth');

/** [N, h, w, 4C] -> [N, 2h, 2w, C] (out[n, 2y + a, 2x + b, c] = in[n, y, x, (2a + b) C + c]), or back with `inverse`. */
export function depthToSpace(rt: Runtime, src: BufferView, dst: BufferView, p: ShuffleParams, inverse = false): void {
  const per = 4 * p.h * p.w * p.C * 4;
  rt.run(inverse ? spaceToDepthKernel : depthToSpaceKernel, {
    params: p,
    bind: { src, dst },
    split: { items: p.N, per: { src: per, dst: per }, chunk: (_, N) => ({ N }) },
  });
}

/**
 * Nearest-neighbour upsampling of [N, h, w, C] by an integer factor f into [N, f h, f w, C]; with
 * `grad`, the reverse: src is the gradient [N, f h, f w, C] and dst [N, h, w, C] sums each f x f block.
 */
export function upsampleNearest(rt: Runtime, src: BufferView, dst: BufferView, p: UpsampleParams, grad = false): void {
  const small = p.h * p.w * p.C * 4,
    big = small * p.f * p.f;
  rt.run(grad ? upsampleGradKernel : upsampleKernel, {
    params: p,
    bind: { src, dst },
    split: { items: p.N, per: grad ? { src: big, dst: small } : { src: small, dst: big }, chunk: (_, N) => ({ N }) },
  });
}

type CropParams = { n: number; s: number; B: number; H: number; W: number; C: number };
const cropKernel = kernel<CropParams>({
  shader: 'layout',
  entry: 'crop_windows',
  workgroups: (p) => ceilDiv(p.n * p.s * p.s * p.C, 64),
  sizes: (p) => ({ src: p.B * p.H * p.W * p.C, boxes: p.n * 3, dst: p.n * p.s * p.s * p.C }),
});
const cropGradKernel = kernel<CropParams>({
  shader: 'layout',
  entry: 'crop_windows_grad',
  workgroups: (p) => ceilDiv(p.B * p.H * p.W * p.C, 64),
  sizes: (p) => ({ src: p.n * p.s * p.s * p.C, boxes: p.n * 3, dst: p.B * p.H * p.W * p.C }),
});

/**
 * Square s x s windows cut from maps [B, H, W, C] into [n, s, s, C]; `boxes` holds (image, top,
 * left) per window as i32, zeros where a window leaves its map. With `grad`: src is the windows'
 * gradient and dst the maps' (each map element sums what was cut from it).
 */
export function cropWindows(rt: Runtime, src: BufferView, boxes: BufferView, dst: BufferView, p: CropParams, grad = false): void {
  rt.run(grad ? cropGradKernel : cropKernel, { params: p, bind: { src, boxes, dst } });
}
