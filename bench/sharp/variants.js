// sharp's side of `make bench` (bench/variants.py): the 4-variant set (200/640/1024/1920 px wide,
// JPEG q80, 4:2:0, optimised Huffman, metadata stripped) from one input, timed inside node over
// repeated runs after a warm-up. Two pipelines; the faster one per image is "sharp's fastest":
//   cascade: one decode (shrink-on-load to the largest size), each smaller size from the previous
//            raw pixels — what the issue calls one decode, cascaded resizes;
//   clones:  one sharp instance per size from the same input buffer (sharp's documented way to
//            make several outputs; each output decodes with its own shrink-on-load).
// Usage: node variants.js [--repeat N] [--out DIR] [--threads N] FILE…   (one JSON line per file)
// With no --repeat (whole-process mode) it runs the cascade once and exits.
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const WIDTHS = [1920, 1024, 640, 200];
const NAMES = { 1920: 'pc', 1024: 'tablet', 640: 'mobile', 200: 'thumbnail' };
const JPEG = { quality: 80, chromaSubsampling: '4:2:0', optimiseCoding: true };

let encode = (pipeline) => pipeline.jpeg(JPEG);

async function cascade(input) {
  const outputs = {};
  let { data, info } = await sharp(input).rotate()
    .resize({ width: WIDTHS[0], withoutEnlargement: true, kernel: 'lanczos3' })
    .raw().toBuffer({ resolveWithObject: true });
  for (const width of WIDTHS) {
    const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
    if (width < info.width) {
      ({ data, info } = await sharp(data, raw).resize({ width, kernel: 'lanczos3' }).raw()
        .toBuffer({ resolveWithObject: true }));
    }
    const rawNow = { raw: { width: info.width, height: info.height, channels: info.channels } };
    outputs[NAMES[width]] = await encode(sharp(data, rawNow)).toBuffer();
  }
  return outputs;
}

async function clones(input) {
  const base = sharp(input).rotate();
  const results = await Promise.all(WIDTHS.map((width) =>
    encode(base.clone().resize({ width, withoutEnlargement: true, kernel: 'lanczos3' })).toBuffer()));
  const outputs = {};
  WIDTHS.forEach((width, i) => { outputs[NAMES[width]] = results[i]; });
  return outputs;
}

async function time(fn, input, repeat) {
  await fn(input);
  const times = [];
  const cpu = [];
  let outputs;
  for (let i = 0; i < repeat; i++) {
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    outputs = await fn(input);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1e3);
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { median: mid(times), cpu: mid(cpu), outputs };
}

async function main() {
  const args = process.argv.slice(2);
  let repeat = 0, out = null, threads = 1;
  const files = [];
  while (args.length) {
    const arg = args.shift();
    if (arg === '--repeat') repeat = Number(args.shift());
    else if (arg === '--out') out = args.shift();
    else if (arg === '--threads') threads = Number(args.shift());
    else files.push(arg);
  }
  sharp.concurrency(threads);
  sharp.cache(false);
  for (const file of files) {
    const input = fs.readFileSync(file);
    // An image with alpha keeps it: PNG variants, like ours.
    const { hasAlpha } = await sharp(input).metadata();
    encode = hasAlpha ? (pipeline) => pipeline.png() : (pipeline) => pipeline.jpeg(JPEG);
    if (!repeat) {
      const outputs = await cascade(input);
      if (out) write(out, file, outputs);
      continue;
    }
    const a = await time(cascade, input, repeat);
    const b = await time(clones, input, repeat);
    const fastest = a.median <= b.median ? a : b;
    if (out) write(out, file, fastest.outputs);
    console.log(JSON.stringify({
      file, cascade_ms: a.median, clones_ms: b.median, median_ms: fastest.median, cpu_ms: fastest.cpu,
      fastest: fastest === a ? 'cascade' : 'clones',
      bytes: Object.fromEntries(Object.entries(fastest.outputs).map(([k, v]) => [k, v.length])),
    }));
  }
}

function write(out, file, outputs) {
  const dir = path.join(out, path.parse(file).name);
  fs.mkdirSync(dir, { recursive: true });
  const ext = encode.toString().includes('png') ? 'png' : 'jpg';
  for (const [name, data] of Object.entries(outputs)) fs.writeFileSync(path.join(dir, `${name}.${ext}`), data);
}

main().catch((e) => { console.error(e); process.exit(1); });
