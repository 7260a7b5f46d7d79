#!/usr/bin/env python3
"""Which AV1 encoder settings could reach sharp's AVIF bytes, and at what time: the study behind
docs/benchmarks.md ("Why the AVIF bytes targets are not met").

    python3 bench/avif_encoders.py [--only seeding_by]      (make bench-avif-encoders)

For a corpus photo resized to 1920 px by ImageMagick (Lanczos; the reference), each encoder
configuration is swept over its quantizer, every file is scored with SSIMULACRA2 against the
reference, and its bytes are interpolated at the score of sharp's default `.avif()` of the same
reference (and at sharp's `.jpeg({quality: 80})`'s score). Encode time is the median of the sweep's
encodes of the one 1920 px image, one thread (sharp's: one warm encode pinned to one CPU):
  rav1e    bench/avif-rav1e (rav1e 0.8 driven directly: our settings today, which are ravif's at
           speed 9, and rav1e's own presets with the partition sizes, CDEF and 4:2:0 ravif fixes);
  libaom   and SVT-AV1 through the project's pinned ffmpeg (`-threads 1`; process start included).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from formats import ONE_CORE, SCORER, SCORER_DIR, bytes_at  # noqa: E402
from variants import CONVERT, ROOT, corpus, run  # noqa: E402

RAV1E_DIR = ROOT / "bench/avif-rav1e"
RAV1E = RAV1E_DIR / "target/release/avif-rav1e"
FFMPEG = os.environ.get("FFMPEG_PATH", "ffmpeg")
OURS = "speed=9 pmin=16 pmax=16 cdef=0 lrf=0 reduced=1 fdi=0 fastdeblock=1"
RAV1E_Q = [90, 110, 130, 150, 170]
IQ_CQ = [27, 29, 31, 33, 35, 37, 39, 41, 43, 45]
CONFIGS = [
    ("rav1e, our settings (ravif speed 9)", "rav1e", OURS, RAV1E_Q),
    ("rav1e preset 10", "rav1e", "speed=10", RAV1E_Q),
    ("rav1e preset 9", "rav1e", "speed=9", RAV1E_Q),
    ("rav1e preset 8", "rav1e", "speed=8", RAV1E_Q),
    ("rav1e preset 6", "rav1e", "speed=6", RAV1E_Q),
    ("rav1e preset 9, 4:2:0", "rav1e", "speed=9 sub=420", RAV1E_Q),
    ("rav1e preset 8, 4:2:0", "rav1e", "speed=8 sub=420", RAV1E_Q),
    ("libaom allintra cpu-used 8", "ffmpeg",
     "-c:v libaom-av1 -usage allintra -cpu-used 8 -crf Q -pix_fmt yuv444p -color_range pc -aom-params tune=ssim",
     [16, 24, 32, 40, 48]),
    ("libaom allintra cpu-used 6", "ffmpeg",
     "-c:v libaom-av1 -usage allintra -cpu-used 6 -crf Q -pix_fmt yuv444p -color_range pc -aom-params tune=ssim",
     [16, 24, 32, 40, 48]),
    ("libaom allintra cpu-used 4", "ffmpeg",
     "-c:v libaom-av1 -usage allintra -cpu-used 4 -crf Q -pix_fmt yuv444p -color_range pc -aom-params tune=ssim",
     [16, 24, 32, 40, 48]),
    # What the image processor runs (crates/image-processor/src/codecs/libaom.rs), in steps of 2:
    # tune=iq, BT.601 full range 4:4:4, at each effort tier's cpu-used (and 10-bit for max).
    *[(f"libaom tune=iq cpu-used {n}{', 10-bit' if ten else ''}", "ffmpeg",
       f"-vf scale=out_color_matrix=bt601:out_range=full,format={'yuv444p10le' if ten else 'yuv444p'} "
       f"-c:v libaom-av1 -usage allintra -cpu-used {n} -crf Q -aom-params tune=iq", IQ_CQ)
      for n, ten in ((8, False), (7, False), (6, False), (6, True), (5, False), (4, False), (4, True))],
    ("SVT-AV1 preset 8, 4:2:0", "ffmpeg",
     "-c:v libsvtav1 -preset 8 -crf Q -pix_fmt yuv420p -color_range pc -svtav1-params lp=1", [16, 24, 32, 40, 48]),
    ("SVT-AV1 preset 6, 4:2:0", "ffmpeg",
     "-c:v libsvtav1 -preset 6 -crf Q -pix_fmt yuv420p -color_range pc -svtav1-params lp=1", [16, 24, 32, 40, 48]),
]
SHARP_JS = """
const sharp = require('sharp'); sharp.concurrency(1);
(async () => {
  const [ref, dir] = process.argv.slice(1);
  await sharp(ref).avif().toFile(dir + '/sharp.avif');  // warm-up
  const t = process.hrtime.bigint();
  await sharp(ref).avif().toFile(dir + '/sharp.avif');
  console.log(Number(process.hrtime.bigint() - t) / 1e6);
  await sharp(ref).jpeg({ quality: 80 }).toFile(dir + '/sharp.jpg');
})();
"""


def score(reference, image, work):
    png = work / "decoded.png"
    run([FFMPEG, "-nostdin", "-loglevel", "error", "-i", image, "-frames:v", "1", "-pix_fmt", "rgba", "-y", png])
    return float(run([SCORER, reference, png]).stdout.split()[0])


def encode(kind, settings, q, ppm, reference, out):
    if kind == "rav1e":
        size, ms = run([RAV1E, ppm, out, f"q={q}", *settings.split()]).stdout.split()
        return int(ms)
    args = [str(q) if a == "Q" else a for a in settings.split()]
    start = time.perf_counter()
    run([FFMPEG, "-nostdin", "-loglevel", "error", "-threads", "1", "-i", reference, *args, "-frames:v", "1",
         "-still-picture", "1", "-y", out])
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="seeding_by", help="corpus JPEGs whose name contains this")
    parser.add_argument("--configs", default="", help="only the configurations whose name contains this")
    args = parser.parse_args()
    for crate in (SCORER_DIR, RAV1E_DIR) if "rav1e" in args.configs or not args.configs else (SCORER_DIR,):
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=crate, check=True)
    work = Path(tempfile.mkdtemp(prefix="media-edge-avif-encoders-"))
    for path in [f for f in corpus() if args.only in f.name and f.suffix == ".jpg"]:
        reference, ppm = work / "ref.png", work / "ref.ppm"
        run([CONVERT, f"{path}[0]", "-auto-orient", "-filter", "Lanczos", "-resize", "1920x", reference])
        run([CONVERT, reference, ppm])
        sharp_ms = float(subprocess.run([*ONE_CORE, "node", "-e", SHARP_JS, reference, work], cwd=ROOT / "bench/sharp",
                                        check=True, capture_output=True, text=True).stdout)
        sharp_avif, sharp_jpeg = work / "sharp.avif", work / "sharp.jpg"
        s_avif, s_jpeg = score(reference, sharp_avif, work), score(reference, sharp_jpeg, work)
        b_avif, b_jpeg = sharp_avif.stat().st_size, sharp_jpeg.stat().st_size
        print(f"\n{path.name} at 1920 px: sharp AVIF (default) {s_avif:.1f}, {b_avif} bytes, {sharp_ms:.0f} ms; "
              f"sharp JPEG q80 {s_jpeg:.1f}, {b_jpeg} bytes\n")
        print("| encoder, settings | bytes at sharp AVIF's score, /sharp | at the JPEG's score, /JPEG "
              "| encode ms (1 thread), /sharp | sweep (score, bytes) |")
        print("|---|---|---|---|---|")
        for name, kind, settings, qs in [c for c in CONFIGS if args.configs in c[0]]:
            curve, times = [], []
            for q in qs:
                out = work / f"out-{q}.avif"
                times.append(encode(kind, settings, q, ppm, reference, out))
                curve.append((score(reference, out, work), out.stat().st_size))
            at_sharp, at_jpeg = bytes_at(curve, s_avif), bytes_at(curve, s_jpeg)
            f = lambda v, base: "-" if v is None else f"{v / base:.2f}"
            ms = statistics.median(times)
            points = ", ".join(f"{s:.1f} {b}" for s, b in sorted(curve))
            print(f"| {name} | {f(at_sharp, b_avif)} | {f(at_jpeg, b_jpeg)} | {ms:.0f}, {ms / sharp_ms:.2f} "
                  f"| {points} |", flush=True)


if __name__ == "__main__":
    main()
