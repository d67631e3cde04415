// deepmask-webgpu for Node: the universal API plus file I/O (models, trunks, images, data sets).
export * from './index.js';
export { saveModel, loadModel, loadTrunk, writeFileAtomic, WEIGHTS_FILE, CONFIG_FILE } from './model/files.js';
