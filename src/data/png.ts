// PNG decoding with upng-js and a fast encoder of our own (pure JS: Node, workers and browsers).
import UPNG from 'upng-js';

/** Decodes a PNG to RGBA8 (grey, palette, 16-bit and alpha variants included). */
export function decodePng(bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const img = UPNG.decode(bytes);
  const frames = UPNG.toRGBA8(img);
  if (!frames[0]) throw new Error('PNG has no image data');
  return { width: img.width, height: img.height, rgba: new Uint8Array(frames[0]) };
}

// Encoding: upng-js deflates an image five times, once per filter, at pako's default level (40-90 ms
// for one noisy 256x192 scene). Photos and renders leave LZ77 little to find, so this encoder
// applies the Up filter and writes Huffman-only deflate blocks of at most 64 KiB: ~1.5 ms per scene, and files
// slightly smaller than upng's.

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]!) & 255]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function adler32(buf: Uint8Array): number {
  let a = 1,
    b = 0;
  for (let i = 0; i < buf.length;) {
    // 5552 bytes is the most that can be summed before b can overflow 2^32.
    const end = Math.min(buf.length, i + 5552);
    for (; i < end; i++) {
      a += buf[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Huffman code lengths for the frequencies, none longer than maxBits; at least two symbols get a code (decoders reject a lone one in some tables). */
function huffmanLengths(freq: ArrayLike<number>, maxBits: number): Uint8Array {
  let f = Array.from(freq);
  if (f.filter((v) => v > 0).length < 2) {
    f[0] ||= 1;
    f[1] ||= 1;
  }
  for (;;) {
    const lens = treeDepths(f);
    let max = 0;
    for (const l of lens) max = Math.max(max, l);
    if (max <= maxBits) return lens;
    // Too deep: flatten the distribution (keeping every used symbol) and rebuild. Slightly
    // suboptimal, but rare and simple.
    f = f.map((v) => (v ? (v >>> 1) | 1 : 0));
  }
}

function treeDepths(f: number[]): Uint8Array {
  const n = f.length;
  const weight: number[] = [],
    parent: number[] = [];
  const live: number[] = [];
  for (let i = 0; i < n; i++) {
    weight.push(f[i]!);
    parent.push(-1);
    if (f[i]! > 0) live.push(i);
  }
  // O(n^2) merging is plenty for alphabets of at most 288 symbols.
  while (live.length > 1) {
    let a = 0,
      b = 1;
    if (weight[live[b]!]! < weight[live[a]!]!) [a, b] = [b, a];
    for (let i = 2; i < live.length; i++) {
      const w = weight[live[i]!]!;
      if (w < weight[live[a]!]!) {
        b = a;
        a = i;
      } else if (w < weight[live[b]!]!) b = i;
    }
    const node = weight.length;
    weight.push(weight[live[a]!]! + weight[live[b]!]!);
    parent.push(-1);
    parent[live[a]!] = node;
    parent[live[b]!] = node;
    const [hi, lo] = a > b ? [a, b] : [b, a];
    live.splice(hi, 1);
    live[lo] = node;
  }
  const depth = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!(f[i]! > 0)) continue;
    let d = 0;
    for (let p = parent[i]!; p >= 0; p = parent[p]!) d++;
    depth[i] = d;
  }
  return depth;
}

/** Canonical codes for the lengths (RFC 1951 §3.2.2), bit-reversed because deflate sends them MSB-first into an LSB-first stream. */
function canonicalCodes(lens: Uint8Array): Uint16Array {
  const count = new Uint16Array(16),
    next = new Uint16Array(16);
  for (const l of lens) count[l]!++;
  count[0] = 0;
  for (let b = 1, code = 0; b < 16; b++) {
    code = (code + count[b - 1]!) << 1;
    next[b] = code;
  }
  const codes = new Uint16Array(lens.length);
  for (let i = 0; i < lens.length; i++) {
    const l = lens[i]!;
    if (!l) continue;
    let c = next[l]!++,
      r = 0;
    for (let k = 0; k < l; k++) {
      r = (r << 1) | (c & 1);
      c >>>= 1;
    }
    codes[i] = r;
  }
  return codes;
}

// Input bytes per deflate block. One block of hundreds of KB is valid deflate but breaks some
// decoders (fast-png through fflate's streaming inflater reads it short), and small blocks let
// each part of the image have its own Huffman table.
const BLOCK_BYTES = 65535;

/** zlib stream of dynamic-Huffman deflate blocks of literals, each of at most 64 KiB of input (a stored block where that is smaller). */
function zlibHuffmanOnly(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / BLOCK_BYTES));
  // A block never takes more than its stored form: 5 bytes of header and padding, plus one byte
  // of bits carried over from the block before.
  const out = new Uint8Array(2 + data.length + 6 * blocks + 4);
  out[0] = 0x78; // deflate, 32K window
  out[1] = 0x01; // fastest-compression flag; (0x78 << 8 | 0x01) % 31 === 0
  let pos = 2,
    acc = 0,
    n = 0;
  const put = (code: number, len: number): void => {
    acc |= code << n;
    n += len;
    while (n >= 8) {
      out[pos++] = acc & 255;
      acc >>>= 8;
      n -= 8;
    }
  };
  const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  const freq = new Uint32Array(257);
  for (let b = 0; b < blocks; b++) {
    const block = data.subarray(b * BLOCK_BYTES, Math.min(data.length, (b + 1) * BLOCK_BYTES));
    const last = b === blocks - 1 ? 1 : 0;
    freq.fill(0);
    for (let i = 0; i < block.length; i++) freq[block[i]!]!++;
    freq[256] = 1; // end of block
    const litLens = huffmanLengths(freq, 15),
      litCodes = canonicalCodes(litLens);
    // Two distance codes of one bit, never used: a complete code that every inflater accepts.
    const allLens = new Uint8Array(257 + 2);
    allLens.set(litLens);
    allLens[257] = allLens[258] = 1;
    const clFreq = new Uint32Array(19);
    for (const l of allLens) clFreq[l]!++;
    const clLens = huffmanLengths(clFreq, 7),
      clCodes = canonicalCodes(clLens);
    let hclen = 19;
    while (hclen > 4 && !clLens[ORDER[hclen - 1]!]) hclen--;

    let bits = 3 + 14 + 3 * hclen + litLens[256]!; // header, counts, code-length code, end of block
    for (const l of allLens) bits += clLens[l]!;
    for (let s = 0; s < 256; s++) bits += freq[s]! * litLens[s]!;
    const storedBits = 3 + ((8 - ((n + 3) & 7)) & 7) + 32 + 8 * block.length;
    if (storedBits <= bits) {
      put(last, 3); // BFINAL, BTYPE 00: stored
      if (n > 0) put(0, 8 - n); // to the byte boundary
      const len = block.length;
      out[pos++] = len & 255;
      out[pos++] = len >>> 8;
      out[pos++] = ~len & 255;
      out[pos++] = (~len >>> 8) & 255;
      out.set(block, pos);
      pos += len;
      continue;
    }
    put(last | (2 << 1), 3); // BFINAL, BTYPE 10: dynamic Huffman
    put(0, 5); // HLIT: 257 literal/length codes
    put(1, 5); // HDIST: 2 distance codes
    put(hclen - 4, 4);
    for (let i = 0; i < hclen; i++) put(clLens[ORDER[i]!]!, 3);
    for (const l of allLens) put(clCodes[l]!, clLens[l]!);
    // The hot loop, with put() inlined.
    for (let i = 0; i < block.length; i++) {
      const s = block[i]!;
      acc |= litCodes[s]! << n;
      n += litLens[s]!;
      while (n >= 8) {
        out[pos++] = acc & 255;
        acc >>>= 8;
        n -= 8;
      }
    }
    put(litCodes[256]!, litLens[256]!);
  }
  if (n > 0) out[pos++] = acc & 255;
  const ad = adler32(data);
  out[pos++] = ad >>> 24;
  out[pos++] = (ad >>> 16) & 255;
  out[pos++] = (ad >>> 8) & 255;
  out[pos++] = ad & 255;
  return out.subarray(0, pos);
}

/**
 * Encodes RGBA8 pixels as a lossless PNG, fast: 8-bit RGB when every pixel is opaque (as in the
 * synthetic scenes), RGBA otherwise. Any PNG decoder, decodePng included, reads it back exactly.
 */
export function encodePng(rgba: Uint8Array, width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`encodePng: bad size ${width}x${height}`);
  if (rgba.length !== width * height * 4) throw new Error(`encodePng: ${rgba.length} bytes for ${width}x${height} RGBA`);
  let opaque = true;
  for (let i = 3; i < rgba.length && opaque; i += 4) opaque = rgba[i] === 255;
  const bpp = opaque ? 3 : 4,
    stride = width * bpp;
  const raw = new Uint8Array(width * height * bpp);
  if (opaque)
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      raw[j] = rgba[i]!;
      raw[j + 1] = rgba[i + 1]!;
      raw[j + 2] = rgba[i + 2]!;
    }
  else raw.set(rgba);
  // The Up filter on every row: on these noisy scenes within ~4% of the size libpng's per-row
  // choice among all five filters gives, and branch-free (Paeth's data-dependent branches cost
  // more than all the rest of the encoder).
  const filtered = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const row = y * stride,
      o = y * (stride + 1) + 1;
    if (y === 0) {
      filtered.set(raw.subarray(0, stride), o); // filter type 0 (None)
      continue;
    }
    filtered[o - 1] = 2;
    for (let i = 0; i < stride; i++) filtered[o + i] = (raw[row + i]! - raw[row - stride + i]!) & 255;
  }
  const idat = zlibHuffmanOnly(filtered);
  const out = new Uint8Array(8 + 25 + 12 + idat.length + 12);
  out.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let pos = 8;
  const u32 = (v: number): void => {
    out[pos++] = v >>> 24;
    out[pos++] = (v >>> 16) & 255;
    out[pos++] = (v >>> 8) & 255;
    out[pos++] = v & 255;
  };
  const chunk = (type: string, body: Uint8Array): void => {
    u32(body.length);
    const start = pos;
    for (let i = 0; i < 4; i++) out[pos++] = type.charCodeAt(i);
    out.set(body, pos);
    pos += body.length;
    u32(crc32(out, start, pos));
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = opaque ? 2 : 6; // colour type: RGB or RGBA
  chunk('IHDR', ihdr); // compression, filter method and interlace stay 0
  chunk('IDAT', idat);
  chunk('IEND', new Uint8Array(0));
  return out;
}
