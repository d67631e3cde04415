// Node only: what ships inside the package: the default model (trained on COCO photos; the CLI's
// model when no --weights is given) and four CC BY photos, found relative to this file.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BUNDLED_MODEL = 'models/mobile-coco';
/** Four COCO photos under CC BY 2.0 that ship with the package (see their LICENSE.md). */
export const BUNDLED_PHOTOS = 'web/assets/photos';

export function bundledModel(): string {
  const dir = fileURLToPath(new URL(`../../../${BUNDLED_MODEL}`, import.meta.url));
  if (!existsSync(dir)) throw new Error(`no --weights given and the bundled model (${BUNDLED_MODEL}) is missing from this checkout`);
  return dir;
}

/** The bundled photos' folder inside the installed package or checkout. */
export function bundledPhotos(): string {
  return fileURLToPath(new URL(`../../../${BUNDLED_PHOTOS}`, import.meta.url));
}
