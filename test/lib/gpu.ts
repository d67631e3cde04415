// One runtime shared by every test file (uvu runs them in one process).
import { init } from '../../src/index.js';

export const rt = await init();
