// PNG structure for the tests: the zlib stream of a PNG's IDAT chunks, and a small inflater (after
// zlib's puff.c) that only measures how many bytes each deflate block of a stream yields.

/** The concatenated IDAT data of a PNG. */
export function idatStream(png: Uint8Array): Uint8Array {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const parts: Uint8Array[] = [];
  for (let pos = 8; pos + 12 <= png.length;) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    if (type === 'IDAT') parts.push(png.subarray(pos + 8, pos + 8 + len));
    pos += 12 + len;
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

interface Huffman {
  count: number[];
  symbol: number[];
}

function huffman(lens: number[]): Huffman {
  const count = new Array<number>(16).fill(0);
  for (const l of lens) count[l]!++;
  count[0] = 0;
  const offs = [0, 0];
  for (let l = 1; l < 15; l++) offs[l + 1] = offs[l]! + count[l]!;
  const symbol: number[] = [];
  lens.forEach((l, s) => {
    if (l) symbol[offs[l]!++] = s;
  });
  return { count, symbol };
}

/** Output bytes of each deflate block of a zlib stream, in order (throws on a malformed stream). */
export function deflateBlockSizes(z: Uint8Array): { type: 'stored' | 'fixed' | 'dynamic'; bytes: number }[] {
  let pos = 2,
    bit = 0; // after the 2-byte zlib header
  const bits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      if (pos >= z.length) throw new Error('deflate stream ends early');
      v |= ((z[pos]! >> bit) & 1) << i;
      if (++bit === 8) [bit, pos] = [0, pos + 1];
    }
    return v;
  };
  const decode = (h: Huffman): number => {
    let code = 0,
      first = 0,
      index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const c = h.count[len]!;
      if (code - c < first) return h.symbol[index + (code - first)]!;
      index += c;
      first = (first + c) << 1;
      code <<= 1;
    }
    throw new Error('bad Huffman code');
  };
  const blocks: { type: 'stored' | 'fixed' | 'dynamic'; bytes: number }[] = [];
  for (let last = 0; !last;) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      if (bit) [bit, pos] = [0, pos + 1];
      const len = z[pos]! | (z[pos + 1]! << 8),
        nlen = z[pos + 2]! | (z[pos + 3]! << 8);
      if ((len ^ 0xffff) !== nlen) throw new Error('stored block length check fails');
      pos += 4 + len;
      blocks.push({ type: 'stored', bytes: len });
      continue;
    }
    if (type === 3) throw new Error('block type 3');
    let lit: Huffman, dist: Huffman;
    if (type === 1) {
      lit = huffman(Array.from({ length: 288 }, (_, s) => (s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8)));
      dist = huffman(new Array<number>(30).fill(5));
    } else {
      const nlen = bits(5) + 257,
        ndist = bits(5) + 1,
        ncode = bits(4) + 4;
      const clLens = new Array<number>(19).fill(0);
      for (let i = 0; i < ncode; i++) clLens[ORDER[i]!] = bits(3);
      const cl = huffman(clLens);
      const lens: number[] = [];
      while (lens.length < nlen + ndist) {
        const s = decode(cl);
        if (s < 16) lens.push(s);
        else if (s === 16) lens.push(...new Array<number>(3 + bits(2)).fill(lens.at(-1)!));
        else lens.push(...new Array<number>(s === 17 ? 3 + bits(3) : 11 + bits(7)).fill(0));
      }
      lit = huffman(lens.slice(0, nlen));
      dist = huffman(lens.slice(nlen, nlen + ndist));
    }
    let bytes = 0;
    for (;;) {
      const s = decode(lit);
      if (s < 256) bytes++;
      else if (s === 256) break;
      else {
        bytes += LBASE[s - 257]! + bits(LEXT[s - 257]!);
        bits(DEXT[decode(dist)]!);
      }
    }
    blocks.push({ type: type === 1 ? 'fixed' : 'dynamic', bytes });
  }
  return blocks;
}
