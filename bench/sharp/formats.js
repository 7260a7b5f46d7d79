// sharp's side of `make bench`'s format benchmark (bench/formats.py): the 4-size set (200/640/1024/
// 1920 px wide) encoded as AVIF, WebP, JPEG or all three, with sharp's defaults for AVIF and WebP
// (what an integrator gets from `.avif()` / `.webp()`) and JPEG q80 4:2:0 as in variants.js.
// One decode (shrink-on-load), cascaded resizes, every format of a size from the same pixels;
// with --threads 2 the sizes are encoded concurrently (libvips' and libuv's threads).
// Usage: node formats.js --format avif|webp|jpeg|all [--repeat N] [--out DIR] [--threads N] FILE…
// With no --repeat (whole-process mode) it renders once and exits.
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const WIDTHS = [1920, 1024, 640, 200];
const NAMES = { 1920: 'pc', 1024: 'tablet', 640: 'mobile', 200: 'thumbnail' };
const ENCODERS = {
  avif: (p) => p.avif(),
  webp: (p) => p.webp(),
  jpg: (p) => p.jpeg({ quality: 80, chromaSubsampling: '4:2:0', optimiseCoding: true }),
};

async function render(input, formats) {
  let { data, info } = await sharp(input).rotate()
    .resize({ width: WIDTHS[0], withoutEnlargement: true, kernel: 'lanczos3' })
    .raw().toBuffer({ resolveWithObject: true });
  const jobs = [];
  for (const width of WIDTHS) {
    if (width < info.width) {
      const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
      ({ data, info } = await sharp(data, raw).resize({ width, kernel: 'lanczos3' }).raw()
        .toBuffer({ resolveWithObject: true }));
    }
    const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
    for (const format of formats) {
      jobs.push(ENCODERS[format](sharp(data, raw)).toBuffer().then((buf) => [`${NAMES[width]}.${format}`, buf]));
    }
  }
  return Object.fromEntries(await Promise.all(jobs));
}

async function main() {
  const args = process.argv.slice(2);
  let repeat = 0, out = null, threads = 1, format = 'all';
  const files = [];
  while (args.length) {
    const arg = args.shift();
    if (arg === '--repeat') repeat = Number(args.shift());
    else if (arg === '--out') out = args.shift();
    else if (arg === '--threads') threads = Number(args.shift());
    else if (arg === '--format') format = args.shift();
    else files.push(arg);
  }
  const formats = format === 'all' ? ['avif', 'webp', 'jpg'] : [format === 'jpeg' ? 'jpg' : format];
  sharp.concurrency(threads);
  sharp.cache(false);
  for (const file of files) {
    const input = fs.readFileSync(file);
    if (!repeat) {
      const outputs = await render(input, formats);
      if (out) write(out, file, outputs);
      continue;
    }
    await render(input, formats);
    const times = [], cpu = [];
    let outputs;
    for (let i = 0; i < repeat; i++) {
      const start = process.hrtime.bigint();
      const cpuStart = process.cpuUsage();
      outputs = await render(input, formats);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      const used = process.cpuUsage(cpuStart);
      cpu.push((used.user + used.system) / 1e3);
    }
    const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    if (out) write(out, file, outputs);
    console.log(JSON.stringify({
      file, median_ms: mid(times), cpu_ms: mid(cpu),
      bytes: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.length])),
    }));
  }
}

function write(out, file, outputs) {
  const dir = path.join(out, path.parse(file).name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(outputs)) fs.writeFileSync(path.join(dir, name), data);
}

main().catch((e) => { console.error(e); process.exit(1); });
