// Times ONNX Runtime (onnxruntime-node, ORT_THREADS (default 2) intra-op threads, all graph
// optimizations) on the single-operator models from make_ort_op_models.py.
// Prints "<op>/<shape>/b<batch> median_us min_us runs".
//
//   NODE_PATH=<dir with onnxruntime-node> node bench/kernels/ort_ops.js /tmp/ort_op_models [filter]
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function timeModel(file) {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: Number(process.env.ORT_THREADS || 2),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const feeds = {};
  for (const name of session.inputNames) {
    const meta = session.inputMetadata ? session.inputMetadata.find((m) => m.name === name) : null;
    const dims = meta && meta.shape ? meta.shape : null;
    if (!dims) throw new Error('input shape unknown for ' + name);
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; ++i) data[i] = Math.random() * 2 - 1;
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < 3; ++i) await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  while (times.length < 5 || (Number(process.hrtime.bigint() - start) < 3e8 && times.length < 2000)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  times.sort((a, b) => a - b);
  await session.release();
  return { median: times[Math.floor(times.length / 2)], min: times[0], runs: times.length };
}

async function main() {
  const dir = process.argv[2] || '/tmp/ort_op_models';
  const filter = new RegExp(process.argv[3] || '.');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx') && filter.test(f)).sort();
  for (const f of files) {
    const r = await timeModel(path.join(dir, f));
    const name = f.replace(/\.onnx$/, '').split('__').join('/');
    console.log(`${name} ${r.median.toFixed(1)} ${r.min.toFixed(1)} ${r.runs}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
