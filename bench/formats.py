#!/usr/bin/env python3
"""AVIF, WebP and JPEG variants side by side: our processing code and sharp (its defaults).

    python3 bench/formats.py [--rounds 3] [--repeat 3] [--only NAME] [--skip-sweep]
                             [--avif-effort fast|default|max] [--skip-timing]

Corpus: bench/variants.py's (Debian's lomiri-wallpapers photos, 12–24 MP, and images made from
them: a baseline JPEG, a large PNG, a PNG with alpha, a WebP). For each image, the 4-size set
(200/640/1024/1920 px):
  one core   AVIF set and WebP set, warm, in-process, both pinned to one CPU (`taskset -c 0`;
             RAYON_NUM_THREADS=1 and sharp.concurrency(1) as well):
             ours (cargo bench `variants --only-format avif|webp`: decode, resize, encode the set in
             that format alone, the same work as sharp's run) against sharp's `.avif()` / `.webp()`;
             also ours with the JPEG/PNG fallback the pipeline always adds (`--formats avif|webp`);
  two cores  all three formats, warm, both threads for both (a 3 GB Lambda has 2 vCPUs), and the
             GB-seconds per 1,000 images at 3,008 MB;
  process    one `media-edge process` (all formats) against one `node formats.js --format all`:
             peak RSS;
  quality    the 1920 px variant scored with SSIMULACRA2 (bench/ssimulacra2, the Rust port of
             libjxl's metric; built here) against the original resized with Lanczos by ImageMagick.
             SSIMULACRA2 rather than SSIM or PSNR: it was fitted to human ratings of exactly these
             codecs' artefacts (blur, banding, ringing) and is what AVIF/JPEG XL encoder tuning uses;
             butteraugli would do too but is slower and less readable (a distance, not a 0–100 scale).
             Equal quality: our encoder is swept over qualities and its bytes interpolated at the
             score of the file it is compared with (sharp's AVIF or WebP, or our own JPEG q80).
`--skip-timing` leaves out the timed rounds (one run each side makes the files to score): the
`max` tier's bytes over the corpus in minutes rather than an hour.
Ratios are paired per round (ours over sharp in the same round), medians over rounds and images.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import CONVERT, MEDIA_EDGE, ROOT, corpus, describe, ours_bench_binary, run, timed  # noqa: E402

SHARP = ROOT / "bench/sharp/formats.js"
SCORER_DIR = ROOT / "bench/ssimulacra2"
SCORER = SCORER_DIR / "target/release/ssimulacra2-score"
LAMBDA_GB = 3008 / 1024
# One core for both sides of the one-core runs: sharp.concurrency(1) limits libvips' threads, but
# sharp's four encodes of a set still run at once on libuv's thread pool (4 threads), so without
# this sharp's "one core" AVIF set used both cores of this machine (its wall time was the 1920 px
# encode alone). RAYON_NUM_THREADS=1 keeps ours on one thread either way.
ONE_CORE = ["taskset", "-c", "0"] if shutil.which("taskset") else []
# Dense where sharp's defaults and our JPEG q80 score (AVIF 65–85, WebP 76–87): bytes are
# interpolated linearly between neighbours, which overstates them on a convex curve when the
# points are far apart (the earlier 10-step sweep put our WebP at 1.001× sharp's; 2-step: 0.99×).
# libaom's cq-level in steps of 2 (lower is better): steps of 8 made libaom look 7 points worse
# than it is (issue 33).
AVIF_CQ_SWEEP = [27, 29, 31, 33, 35, 37, 39, 41, 43, 45]
WEBP_SWEEP = [70, 76, 78, 80, 82, 84, 87, 90, 93, 97]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def to_png(image, png):
    """Decodes any variant to PNG with the project's ffmpeg (dav1d for AVIF; its alpha merged)."""
    ffmpeg = os.environ.get("FFMPEG_PATH", "ffmpeg")
    base = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", image]
    for extra in (["-filter_complex", "[0:v:0][0:v:1]alphamerge"], []):
        if subprocess.run([*base, *extra, "-frames:v", "1", "-pix_fmt", "rgba", "-y", png],
                          capture_output=True).returncode == 0:
            return png
    sys.exit(f"could not decode {image}")


def scores(reference, images, work):
    pngs = [to_png(image, work / f"score-{i}.png") for i, image in enumerate(images)]
    out = run([SCORER, reference, *pngs]).stdout.split()
    return [float(s) for s in out]


def bytes_at(curve, score):
    """Bytes at `score` on a (score, bytes) curve, by linear interpolation (None outside it)."""
    points = sorted(curve)
    for (s0, b0), (s1, b1) in zip(points, points[1:]):
        if s0 <= score <= s1 and s1 > s0:
            return b0 + (b1 - b0) * (score - s0) / (s1 - s0)
    return None


def bench_json(cmd, env=None):
    _, _, _, out = timed(cmd, env=env)
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=None, help="only images whose name contains this")
    parser.add_argument("--skip-sweep", action="store_true", help="no quality sweep (timing only)")
    parser.add_argument("--skip-timing", action="store_true",
                        help="bytes and SSIMULACRA2 only (one run each side, no timed rounds): the slow tiers")
    parser.add_argument("--avif-effort", choices=["fast", "default", "max"], default="default",
                        help="libaom's AVIF_EFFORT (default: the shipped default)")
    args = parser.parse_args()
    if not MEDIA_EDGE.exists():
        sys.exit("build first: cargo build --release --bin media-edge (make bench does)")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=SCORER_DIR, check=True)
    bench = ours_bench_binary()
    os.environ["AVIF_EFFORT"] = args.avif_effort  # for `media-edge process`
    encoder = ["--avif-effort", args.avif_effort]
    one, two = {"RAYON_NUM_THREADS": "1"}, {"RAYON_NUM_THREADS": "2"}
    work = Path(tempfile.mkdtemp(prefix="media-edge-formats-"))
    rows = []
    for path in [f for f in corpus() if not args.only or args.only in f.name]:
        w, h, kind = describe(path)
        t = {k: [] for k in ("avif", "avif_sharp", "webp", "webp_sharp", "avif_fb", "webp_fb", "all", "all_sharp",
                             "all_cpu", "all_sharp_cpu", "mem", "mem_sharp", "proc", "proc_sharp")}
        if args.skip_timing:
            run([bench, *encoder, "--only-variant", "pc", "--once", "--formats", "avif,webp", "--out", work / "ours",
                 path])
            run(["node", SHARP, "--format", "all", "--repeat", 1, "--out", work / "sharp", path])
        for round_ in range(0 if args.skip_timing else args.rounds):
            for fmt in ("avif", "webp"):
                # Equal work: the set in this format alone, as sharp's run makes it.
                t[fmt].append(bench_json([*ONE_CORE, bench, *encoder, "--repeat", args.repeat, "--only-format", fmt, path],
                                         one)["median_ms"])
                # What the pipeline does with only this format on: the JPEG/PNG fallback too.
                t[f"{fmt}_fb"].append(bench_json([*ONE_CORE, bench, *encoder, "--repeat", args.repeat, "--formats", fmt,
                                                  path], one)["median_ms"])
                t[f"{fmt}_sharp"].append(bench_json([*ONE_CORE, "node", SHARP, "--format", fmt, "--repeat",
                                                     args.repeat, "--threads", 1, path])["median_ms"])
            ours = bench_json([bench, *encoder, "--repeat", args.repeat, "--formats", "avif,webp", "--out", work / "ours",
                               path], two)
            sharp = bench_json(["node", SHARP, "--format", "all", "--repeat", args.repeat, "--threads", 2,
                                "--out", work / "sharp", path])
            t["all"].append(ours["median_ms"]); t["all_cpu"].append(ours["cpu_ms"])
            t["all_sharp"].append(sharp["median_ms"]); t["all_sharp_cpu"].append(sharp["cpu_ms"])
            # A fresh --out each round: `media-edge process` skips originals already up to date there,
            # so a second run into the same directory would time a skip, not a render.
            wall, _, mem, _ = timed([MEDIA_EDGE, "process", path, "--out", work / f"process-{round_}"],
                                    env=two)  # defaults
            t["proc"].append(wall); t["mem"].append(mem)
            wall, _, mem, _ = timed(["node", SHARP, "--format", "all", "--threads", 2,
                                     "--out", work / "sharp-process", path])
            t["proc_sharp"].append(wall); t["mem_sharp"].append(mem)
        paired = lambda a, b: median([x / y for x, y in zip(t[a], t[b])]) if t[a] else None
        row = {"image": path.name, "mp": w * h / 1e6, "kind": kind,
               "avif_ratio": paired("avif", "avif_sharp"), "webp_ratio": paired("webp", "webp_sharp"),
               "avif_fb_ratio": paired("avif_fb", "avif_sharp"), "webp_fb_ratio": paired("webp_fb", "webp_sharp"),
               "all_ratio": paired("all", "all_sharp"), "proc_ratio": paired("proc", "proc_sharp"),
               **{k: median(v) for k, v in t.items()}}
        ours_pc = work / "ours" / path.stem
        row["bytes"] = {f: (ours_pc / f"pc.{f}").stat().st_size if (ours_pc / f"pc.{f}").exists() else None
                        for f in ("avif", "webp", "jpg", "png")}
        row["sharp_bytes"] = {f: (work / "sharp" / path.stem / f"pc.{f}").stat().st_size for f in ("avif", "webp")}
        if not args.skip_sweep and "alpha" not in kind:
            row["quality"] = quality(bench, path, work, encoder)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    report(rows, args)


def quality(bench, path, work, encoder):
    """SSIMULACRA2 of the 1920 px variant: ours over a quality sweep, sharp's default, our JPEG."""
    sharp_dir = work / "sharp" / path.stem
    fw, fh, _ = describe(sharp_dir / "pc.jpg")
    reference = work / f"{path.stem}-ref.png"
    run([CONVERT, f"{path}[0]", "-auto-orient", "-filter", "Lanczos", "-resize", f"{fw}x{fh}!", reference])
    result = {}
    for fmt, sweep, flag in (("avif", AVIF_CQ_SWEEP, "--avif-cq"), ("webp", WEBP_SWEEP, "--webp-quality")):
        curve = []
        for q in sweep:
            out = work / f"sweep-{fmt}-{q}"
            # The 1920 px variant alone, rendered once: all that is scored (a whole set three
            # times per point made the `max` tier's sweep an hour per image).
            run([bench, *encoder, "--only-variant", "pc", "--once", "--formats", fmt, flag, q, "--out", out, path])
            file = out / path.stem / f"pc.{fmt}"
            if file.exists():  # left out when no smaller than the JPEG
                ow, oh, _ = describe(sharp_dir / "pc.jpg")
                curve.append((scores(reference, [file], work)[0], file.stat().st_size, q))
        sharp_file = sharp_dir / f"pc.{fmt}"
        sharp_score = scores(reference, [sharp_file], work)[0]
        result[fmt] = {"curve": curve, "sharp_score": sharp_score, "sharp_bytes": sharp_file.stat().st_size}
    jpeg = work / f"sweep-avif-{AVIF_CQ_SWEEP[0]}" / path.stem / "pc.jpg"
    result["jpeg"] = {"score": scores(reference, [jpeg], work)[0], "bytes": jpeg.stat().st_size}
    for fmt in ("avif", "webp"):
        curve = [(s, b) for s, b, _ in result[fmt]["curve"]]
        at_sharp = bytes_at(curve, result[fmt]["sharp_score"])
        at_jpeg = bytes_at(curve, result["jpeg"]["score"])
        result[fmt]["vs_sharp"] = at_sharp / result[fmt]["sharp_bytes"] if at_sharp else None
        result[fmt]["vs_jpeg"] = at_jpeg / result["jpeg"]["bytes"] if at_jpeg else None
    return result


def report(rows, args):
    if not args.skip_timing:
        report_times(rows, args)
    report_bytes(rows, args)


def report_times(rows, args):
    print(f"\nFormats, 4-size set; medians of {args.rounds} rounds × {args.repeat} warm runs; ratios ours/sharp, paired\n")
    print("| image | MP | kind | AVIF set, 1 core: ours / sharp ms | ratio | with JPEG/PNG fallback | "
          "WebP set, 1 core | ratio | with fallback | "
          "3 formats, 2 cores: ours / sharp ms | ratio | GB-s per 1,000: ours / sharp | process s ratio | "
          "peak MB ours / sharp |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gbs = lambda ms: ms / 1000 * LAMBDA_GB * 1000
        print(f"| {r['image'][:26]} | {r['mp']:.1f} | {r['kind']} | {r['avif']:.0f} / {r['avif_sharp']:.0f} | "
              f"{r['avif_ratio']:.2f} | {r['avif_fb']:.0f}: {r['avif_fb_ratio']:.2f} | "
              f"{r['webp']:.0f} / {r['webp_sharp']:.0f} | {r['webp_ratio']:.2f} | "
              f"{r['webp_fb']:.0f}: {r['webp_fb_ratio']:.2f} | "
              f"{r['all']:.0f} / {r['all_sharp']:.0f} | {r['all_ratio']:.2f} | {gbs(r['all']):.0f} / "
              f"{gbs(r['all_sharp']):.0f} | {r['proc_ratio']:.2f} | {r['mem']:.0f} / {r['mem_sharp']:.0f} |")
    check = lambda ok: "met" if ok else "NOT met"
    avif = median([r["avif_ratio"] for r in rows])
    webp = median([r["webp_ratio"] for r in rows])
    photos = [r for r in rows if 12 <= r["mp"] <= 24.5]
    every = median([r["all_ratio"] for r in photos])
    webp_inputs = [r["proc_ratio"] for r in rows if r["image"].endswith(".webp")]
    fb = lambda key: median([r[key] for r in rows])
    print(f"\nAVIF set, one core, ours/sharp: median {avif:.2f} (target ≤ 0.25: {check(avif <= 0.25)}; "
          f"with the fallback the pipeline adds: {fb('avif_fb_ratio'):.2f})")
    print(f"WebP set, one core, ours/sharp: median {webp:.2f} (target ≤ 0.75: {check(webp <= 0.75)}; "
          f"with the fallback the pipeline adds: {fb('webp_fb_ratio'):.2f})")
    print(f"three formats, 12–24 MP photos, two cores, ours/sharp: median {every:.2f} "
          f"(target ≤ 0.25: {check(every <= 0.25)})")
    if webp_inputs:
        print(f"WebP input, whole process (3 formats), ours/sharp: {median(webp_inputs):.2f}")
    print(f"peak memory below sharp's on every image: {check(all(r['mem'] < r['mem_sharp'] for r in rows))}")


def report_bytes(rows, args):
    check = lambda ok: "met" if ok else "NOT met"
    q_rows = [r for r in rows if r.get("quality")]
    if q_rows:
        print("\n1920 px variant, SSIMULACRA2 (higher is better) and bytes\n")
        print("| image | our JPEG q80 | sharp AVIF | ours AVIF (q: score, bytes) | AVIF bytes at sharp's score, "
              "ours/sharp | AVIF at our JPEG's score, /JPEG | sharp WebP | ours WebP at sharp's score, "
              "ours/sharp | WebP at JPEG's score, /JPEG |")
        print("|---|---|---|---|---|---|---|---|---|")
        f = lambda v: "-" if v is None else f"{v:.2f}"
        for r in q_rows:
            q = r["quality"]
            curve = ", ".join(f"cq{qq}: {s:.1f} {b}" for s, b, qq in q["avif"]["curve"])
            print(f"| {r['image'][:26]} | {q['jpeg']['score']:.1f}, {q['jpeg']['bytes']} | "
                  f"{q['avif']['sharp_score']:.1f}, {q['avif']['sharp_bytes']} | {curve} | {f(q['avif']['vs_sharp'])} | "
                  f"{f(q['avif']['vs_jpeg'])} | {q['webp']['sharp_score']:.1f}, {q['webp']['sharp_bytes']} | "
                  f"{f(q['webp']['vs_sharp'])} | {f(q['webp']['vs_jpeg'])} |")
    if q_rows:
        # Issue 33's floors per libaom effort: default ≤ 1.08× sharp's AVIF, max ≤ 0.95× and ≤ 0.47× our JPEG.
        avif_sharp, avif_jpeg = {"max": (0.95, 0.47)}.get(args.avif_effort, (1.08, 0.5))
        for fmt, target_sharp, target_jpeg in (("avif", avif_sharp, avif_jpeg), ("webp", 1.0, 0.75)):
            vs_sharp = median([r["quality"][fmt]["vs_sharp"] for r in q_rows])
            vs_jpeg = median([r["quality"][fmt]["vs_jpeg"] for r in q_rows])
            print(f"{fmt.upper()} bytes at sharp's SSIMULACRA2, ours/sharp: median {vs_sharp:.3f} "
                  f"(target ≤ {target_sharp}: {check(vs_sharp <= target_sharp)}); at our JPEG's, /JPEG: median "
                  f"{vs_jpeg:.2f} (target ≤ {target_jpeg}: {check(vs_jpeg <= target_jpeg)})")


if __name__ == "__main__":
    main()
