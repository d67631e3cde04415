// PNG encoding and decoding with upng-js (pure JS: works in Node and the browser).
import UPNG from 'upng-js';

/** Encodes RGBA8 pixels (row-major, 4 bytes per pixel) as a lossless PNG. */
export function encodePng(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): Uint8Array {
  if (rgba.length !== width * height * 4) throw new Error(`encodePng: ${rgba.length} bytes for ${width}x${height} RGBA`);
  const copy = new Uint8Array(rgba).buffer; // upng reads the whole ArrayBuffer
  return new Uint8Array(UPNG.encode([copy], width, height, 0));
}

/** Decodes a PNG to RGBA8 (grey, palette, 16-bit and alpha variants included). */
export function decodePng(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const img = UPNG.decode(bytes);
  const frames = UPNG.toRGBA8(img);
  if (!frames[0]) throw new Error('PNG has no image data');
  return { width: img.width, height: img.height, rgba: new Uint8Array(frames[0]) };
}
