// The model shipped in the repository (trained on COCO photos), used when no --weights is given.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BUNDLED_MODEL = 'models/squeeze-coco';

export function bundledModel(): string {
  const dir = fileURLToPath(new URL(`../../../${BUNDLED_MODEL}`, import.meta.url));
  if (!existsSync(dir)) throw new Error(`no --weights given and the bundled model (${BUNDLED_MODEL}) is missing from this checkout`);
  return dir;
}
