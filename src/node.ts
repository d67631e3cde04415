// deepmask-webgpu for Node: the universal API plus file I/O (models, trunks, images, data sets).
export * from './index.js';
// Shadows the universal load(): also model folders and, with no source, the bundled model.
export { load } from './api-node.js';
export { saveModel, loadModel, loadTrunk, writeFileAtomic, WEIGHTS_FILE, CONFIG_FILE } from './model/files.js';
export { bundledModel, bundledPhotos, BUNDLED_MODEL } from './model/bundled.js';
export { runTraining, type RunOptions, type RunResult } from './train/run.js';
export { WorkerLoader } from './data/loader.js';
