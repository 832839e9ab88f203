#!/usr/bin/env node
// ONNX Runtime side of the engine benchmark: the `tessera run` command line
// and JSON output, on onnxruntime-node (CPU).
//
//   node ort_runner.js --model M.onnx --input NAME=FILE.npy [...] [--threads 2]
//        [--iterations N] [--warmup W] [--output-dir DIR] [--json]
//
// Session: intraOpNumThreads = --threads (default 2), interOpNumThreads 1,
// sequential execution, graphOptimizationLevel 'all'. Warmup runs are not
// timed; latency is wall time around each session.run(). Each output is
// written to DIR/NAME.npy ('/' in names becomes '_'). With --json, stdout is
// exactly one object: {"outputs": {NAME: {"shape": [...], "dtype": ".."}},
// "latency_ms": {"min","p50","p90","p99","mean"}, "iterations": N}.
// Exit codes: 0 ok, 1 runtime error, 2 usage error.
'use strict';

const fs = require('fs');
const path = require('path');
const { readNpyFile, writeNpyFile } = require('./npy.js');

function usage(message) {
  process.stderr.write(`ort_runner: ${message}\n` +
    'usage: node ort_runner.js --model M.onnx --input NAME=FILE.npy... [--threads N] ' +
    '[--iterations N] [--warmup N] [--output-dir DIR] [--json]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const options = { inputs: [], threads: 2, iterations: 0, warmup: -1, outputDir: '', json: false, model: '' };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let value;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    const count = (minimum) => {
      const text = next();
      const n = Number(text);
      if (!Number.isInteger(n) || n < minimum) usage(`${flag} expects an integer >= ${minimum}, got '${text}'`);
      return n;
    };
    switch (flag) {
      case '--model': options.model = next(); break;
      case '--input': {
        const text = next();
        const at = text.lastIndexOf('=');
        if (at <= 0 || at === text.length - 1) usage(`--input expects NAME=FILE.npy, got '${text}'`);
        options.inputs.push([text.slice(0, at), text.slice(at + 1)]);
        break;
      }
      case '--threads': options.threads = count(0); break;
      case '--iterations': options.iterations = count(1); break;
      case '--warmup': options.warmup = count(0); break;
      case '--output-dir': options.outputDir = next(); break;
      case '--json': options.json = true; break;
      case '--help': usage('help'); break;
      default: usage(`unknown flag '${flag}'`);
    }
  }
  if (!options.model) usage('--model is required');
  if (options.warmup < 0) options.warmup = options.iterations > 0 ? 1 : 0;
  return options;
}

function percentile(sorted, q) {
  const rank = q * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower);
}

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x) => Number(x.toFixed(6));
  return {
    min: round(sorted[0]),
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write(`ort_runner: cannot load onnxruntime-node (run bench/engine/run.sh, which installs it): ${e.message}\n`);
    process.exit(1);
  }
  if (!fs.existsSync(options.model)) {
    process.stderr.write(`ort_runner: cannot open model '${options.model}'\n`);
    process.exit(1);
  }
  const session = await ort.InferenceSession.create(options.model, {
    intraOpNumThreads: options.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const [name, file] of options.inputs) {
    if (!session.inputNames.includes(name)) {
      throw new Error(`the model has no input named '${name}'; its inputs are: ${session.inputNames.join(', ')}`);
    }
    const t = readNpyFile(file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.shape);
  }
  for (const name of session.inputNames) {
    if (!(name in feeds)) throw new Error(`input '${name}' not given (use --input ${name}=FILE.npy)`);
  }

  let results;
  for (let i = 0; i < options.warmup; i++) results = await session.run(feeds);
  const latencies = [];
  if (options.iterations > 0) {
    for (let i = 0; i < options.iterations; i++) {
      const start = process.hrtime.bigint();
      results = await session.run(feeds);
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  } else {
    results = await session.run(feeds);
  }

  const report = { outputs: {} };
  if (options.outputDir) fs.mkdirSync(options.outputDir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    report.outputs[name] = { shape: t.dims.map(Number), dtype: t.type };
    if (options.outputDir) {
      const file = (name === '' || name === '.' || name === '..' ? '_' : name.replace(/[/\\]/g, '_')) + '.npy';
      writeNpyFile(path.join(options.outputDir, file), t.type, t.dims.map(Number), t.data);
    }
  }
  if (options.iterations > 0) {
    report.latency_ms = summarize(latencies);
    report.iterations = options.iterations;
  }
  if (options.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    for (const [name, info] of Object.entries(report.outputs)) {
      process.stdout.write(`${name}  ${info.dtype} [${info.shape.join(',')}]\n`);
    }
    if (report.latency_ms) {
      const l = report.latency_ms;
      process.stdout.write(`latency over ${options.iterations} iterations (${options.warmup} warmup, ` +
        `${options.threads} threads): min ${l.min} ms  p50 ${l.p50} ms  p90 ${l.p90} ms  p99 ${l.p99} ms  mean ${l.mean} ms\n`);
    }
  }
}

main().catch((e) => {
  process.stderr.write(`ort_runner: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
