#!/usr/bin/env node
// Drives the engine benchmark (called by run.sh, which prepares everything):
// for each model and batch, runs `tessera run` and ort_runner.js on the same
// input .npy, alternating them for several rounds (the first runner swaps
// every round), then compares their outputs and prints one table.
//
//   node bench_driver.js --tessera PATH [--models a,b] [--batches 1,8]
//        [--rounds 5] [--iterations 10] [--warmup 2] [--threads 2]
//        [--ort-only] [--results FILE.json]
//
// Per (model, batch): "tessera p50" and "ORT p50" are medians over rounds of
// each run's p50 latency; "ratio" is the median over rounds of the per-round
// tessera/ORT p50 ratio (rounds pair runs made back to back). Output diffs use
// the last successful round of each runner, maximized over outputs:
// max |tessera - ORT| and that divided by max |ORT output|.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { readNpyFile } = require('./npy.js');

const here = __dirname;

function parseArgs(argv) {
  const o = {
    tessera: '', models: '', batches: '1,8', rounds: 5, iterations: 10, warmup: 2, threads: 2,
    ortOnly: false, results: path.join(here, 'models', 'results', 'latest.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--tessera': o.tessera = next(); break;
      case '--models': o.models = next(); break;
      case '--batches': o.batches = next(); break;
      case '--rounds': o.rounds = Number(next()); break;
      case '--iterations': o.iterations = Number(next()); break;
      case '--warmup': o.warmup = Number(next()); break;
      case '--threads': o.threads = Number(next()); break;
      case '--ort-only': o.ortOnly = true; break;
      case '--results': o.results = next(); break;
      default: throw new Error(`unknown flag '${flag}'`);
    }
  }
  for (const k of ['rounds', 'iterations', 'warmup', 'threads']) {
    if (!Number.isInteger(o[k]) || o[k] < (k === 'warmup' ? 0 : 1)) throw new Error(`--${k} must be a positive integer`);
  }
  if (!o.ortOnly && !o.tessera) throw new Error('--tessera PATH is required (or --ort-only)');
  return o;
}

function median(values) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// Runs one benchmark process; returns {p50} or {error}.
function runOnce(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 1800 * 1000, maxBuffer: 16 << 20 });
  if (r.error) return { error: r.error.message };
  if (r.status !== 0) {
    const lines = (r.stderr || '').trim().split('\n').filter((l) => !l.startsWith('note:'));
    return { error: `exit ${r.status}: ${lines[lines.length - 1] || '(no message)'}` };
  }
  try {
    const report = JSON.parse(r.stdout);
    return { p50: report.latency_ms.p50, report };
  } catch (e) {
    return { error: `unparsable output: ${e.message}: ${r.stdout.slice(0, 200)}` };
  }
}

function toNumbers(t) {
  if (t.data instanceof BigInt64Array) return Float64Array.from(t.data, Number);
  return t.data;
}

// max |a-b| and max |b| over every output file both directories hold.
function compareOutputs(dirA, dirB) {
  let maxDiff = 0;
  let maxRef = 0;
  let compared = 0;
  const problems = [];
  for (const file of fs.readdirSync(dirB).filter((f) => f.endsWith('.npy')).sort()) {
    const fileA = path.join(dirA, file);
    if (!fs.existsSync(fileA)) {
      problems.push(`${file} missing`);
      continue;
    }
    const a = readNpyFile(fileA);
    const b = readNpyFile(path.join(dirB, file));
    if (a.shape.join('x') !== b.shape.join('x')) {
      problems.push(`${file}: shape ${a.shape.join('x')} vs ${b.shape.join('x')}`);
      continue;
    }
    const x = toNumbers(a);
    const y = toNumbers(b);
    for (let i = 0; i < y.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;  // NaN anywhere counts as infinite
      if (Math.abs(y[i]) > maxRef) maxRef = Math.abs(y[i]);
    }
    compared++;
  }
  return { maxDiff, maxRef, compared, problems };
}

function format(x, digits) {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return 'inf';
  return x.toFixed(digits);
}

function formatSci(x) {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return 'inf';
  return x.toExponential(2);
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const manifestPath = path.join(here, 'models', 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const wanted = o.models ? o.models.split(',') : manifest.map((m) => m.model);
  const batches = o.batches.split(',').filter(Boolean);
  const ortRunner = path.join(here, 'ort_runner.js');
  const resultsDir = path.join(here, 'models', 'results');
  const ortVersion = require('onnxruntime-node/package.json').version;

  const header = `engine benchmark: ${o.rounds} rounds x ${o.iterations} timed iterations (+${o.warmup} warmup), ` +
    `${o.threads} intra-op threads; onnxruntime-node ${ortVersion}; ${os.cpus().length} CPUs, ` +
    `load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ${new Date().toISOString()}`;
  process.stderr.write(header + '\n');

  const rows = [];
  for (const name of wanted) {
    const entry = manifest.find((m) => m.model === name);
    if (!entry) throw new Error(`model '${name}' is not in ${manifestPath}`);
    for (const batch of batches) {
      const input = entry.inputs[batch];
      if (!input) throw new Error(`no input for ${name} batch ${batch}; rerun export_models.py --batches ${o.batches}`);
      const outDir = { tessera: path.join(resultsDir, `${name}_b${batch}`, 'tessera'),
        ort: path.join(resultsDir, `${name}_b${batch}`, 'ort') };
      for (const d of Object.values(outDir)) fs.rmSync(d, { recursive: true, force: true });
      const common = ['--model', entry.path, '--input', `${entry.input}=${input}`, '--threads', String(o.threads),
        '--iterations', String(o.iterations), '--warmup', String(o.warmup), '--json'];
      const runners = {
        tessera: () => runOnce(o.tessera, ['run', ...common, '--output-dir', outDir.tessera]),
        ort: () => runOnce(process.execPath, [ortRunner, ...common, '--output-dir', outDir.ort]),
      };
      const p50 = { tessera: [], ort: [] };
      const ratios = [];
      const errors = {};
      for (let round = 0; round < o.rounds; round++) {
        const order = round % 2 === 0 ? ['tessera', 'ort'] : ['ort', 'tessera'];
        const got = {};
        for (const runner of order) {
          if (runner === 'tessera' && (o.ortOnly || errors.tessera)) continue;
          if (runner === 'ort' && errors.ort) continue;
          const r = runners[runner]();
          if (r.error) {
            errors[runner] = r.error;
            process.stderr.write(`  ${name} b${batch} ${runner}: FAILED ${r.error}\n`);
            continue;
          }
          got[runner] = r.p50;
          p50[runner].push(r.p50);
        }
        if (got.tessera !== undefined && got.ort !== undefined) ratios.push(got.tessera / got.ort);
        process.stderr.write(`  ${name} b${batch} round ${round + 1}/${o.rounds}: tessera ${format(got.tessera, 2)} ms, ` +
          `ORT ${format(got.ort, 2)} ms\n`);
      }
      let diff = {};
      if (p50.tessera.length > 0 && p50.ort.length > 0) diff = compareOutputs(outDir.tessera, outDir.ort);
      rows.push({
        model: name, batch: Number(batch), tessera_p50_ms: median(p50.tessera), ort_p50_ms: median(p50.ort),
        ratio: median(ratios), rounds_paired: ratios.length, max_abs_diff: diff.maxDiff,
        max_abs_output: diff.maxRef, relative_diff: diff.maxDiff !== undefined ? diff.maxDiff / diff.maxRef : undefined,
        output_problems: diff.problems, errors, tessera_p50s: p50.tessera, ort_p50s: p50.ort,
      });
    }
  }

  fs.mkdirSync(path.dirname(o.results), { recursive: true });
  fs.writeFileSync(o.results, JSON.stringify({ header, options: o, rows }, null, 2));

  const table = [['model', 'batch', 'tessera p50 ms', 'ORT p50 ms', 'tessera/ORT', 'max abs diff', 'rel diff']];
  for (const r of rows) {
    table.push([r.model, String(r.batch), r.errors.tessera ? 'FAILED' : format(r.tessera_p50_ms, 2),
      r.errors.ort ? 'FAILED' : format(r.ort_p50_ms, 2), format(r.ratio, 2), formatSci(r.max_abs_diff),
      formatSci(r.relative_diff)]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const line = (row) => '| ' + row.map((cell, c) => (c < 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join(' | ') + ' |';
  console.log(header);
  console.log(line(table[0]));
  console.log('|' + widths.map((w, c) => (c < 1 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  for (const row of table.slice(1)) console.log(line(row));
  for (const r of rows) {
    for (const [runner, error] of Object.entries(r.errors)) console.log(`${r.model} b${r.batch} ${runner}: ${error}`);
    for (const p of r.output_problems || []) console.log(`${r.model} b${r.batch} outputs: ${p}`);
  }
  console.log(`medians over ${o.rounds} rounds; per-round numbers in ${o.results}`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`bench_driver: ${e.message}\n`);
  process.exit(1);
}
