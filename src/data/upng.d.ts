// The parts of upng-js (CommonJS, untyped) that we use.
declare module 'upng-js' {
  interface Image {
    width: number;
    height: number;
    depth: number;
    ctype: number;
    frames: unknown[];
    data: ArrayBuffer;
  }
  const UPNG: {
    encode(frames: ArrayBuffer[], w: number, h: number, cnum: number, delays?: number[]): ArrayBuffer;
    decode(buf: ArrayBuffer | Uint8Array): Image;
    toRGBA8(img: Image): ArrayBuffer[];
  };
  export default UPNG;
}
