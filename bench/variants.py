#!/usr/bin/env python3
"""Variant generation side by side: our processing code, libvips' vipsthumbnail and sharp.

    python3 bench/variants.py [--rounds 5] [--repeat 5] [--only NAME]

Corpus (regenerated offline into target/bench/variants-corpus, nothing large is committed): the
12–24 MP photographs of Debian's lomiri-wallpapers (progressive and baseline JPEGs), a baseline
re-encode of one progressive photo, one large PNG and one PNG with alpha made from them.

For each image, the full 4-variant set (200/640/1024/1920 px wide, JPEG q80 4:2:0 with optimised
Huffman tables; PNG for the image with alpha), our side with OUTPUT_FORMATS=none so both make the
same files (AVIF and WebP: bench/formats.py):
  warm      in-process, after a warm-up, median of --repeat runs: ours (cargo bench binary
            `variants`) and sharp (bench/sharp/variants.js: its faster of one decode + cascaded
            resizes, or one clone per size);
  process   one process per image: `media-edge process` vs `node variants.js FILE`
            (what a cold start or a CLI user pays), and vipsthumbnail run once per size;
interleaved over --rounds rounds, medians. Ratios are paired: ours over the peer in the same
round, then the median over rounds, so the machine's drift between rounds (±20% here) cancels out.
Wall time, CPU time and peak RSS, and our page faults per warm render; everything runs with one
worker thread (sharp.concurrency(1), VIPS_CONCURRENCY=1), as our renderer is single-threaded, and
every timed run is pinned to one CPU (`taskset -c 0`: sharp's clones per size would otherwise run
at once on libuv's thread pool).
Quality: bytes and SSIM against the same-size reference (the original resized with Lanczos by
ImageMagick) for the 1920 and 200 px variants of ours and libvips'.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = Path("/usr/share/backgrounds")
CORPUS_DIR = ROOT / "target/bench/variants-corpus"
MEDIA_EDGE = ROOT / "target/release/media-edge"
SHARP = ROOT / "bench/sharp/variants.js"
WIDTHS = {"pc": 1920, "tablet": 1024, "mobile": 640, "thumbnail": 200}
CONVERT = "/usr/bin/convert"  # ImageMagick (not a wrapper earlier on PATH)
# Every timed run on one CPU: sharp.concurrency(1) limits libvips' threads, but sharp's clones per
# size run at once on libuv's thread pool, which used both cores of a 2-core machine.
ONE_CORE = ["taskset", "-c", "0"] if shutil.which("taskset") else []

JPEGS = [
    "Dragonfly_by_Bolly.jpg",                 # 4224×3168 progressive 4:2:2
    "Infinite-Sea_by_Aury88.jpg",             # 4096×4096 progressive 4:4:4
    "Kleiber_by_Lukas_Baubkus.jpg",           # 6028×3391 baseline 4:2:2
    "Painting-Colors_by__herobrine7gamer.jpg",  # 6000×4000 baseline 4:4:4
    "seeding_by_Clements_Engelhardt.jpg",     # 5312×2988 progressive 4:2:0
    "sunset_by_Aitzol_Berasategi.jpg",        # 4272×2848 progressive 4:2:2
]


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def corpus():
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    files = []
    for name in JPEGS:
        target = CORPUS_DIR / name
        if not target.exists():
            target.symlink_to(PHOTOS / name)
        files.append(target)
    made = {
        "seeding-baseline.jpg": ["seeding_by_Clements_Engelhardt.jpg", "-interlace", "none", "-quality", "92"],
        "kleiber-large.png": ["Kleiber_by_Lukas_Baubkus.jpg", "-define", "png:compression-level=6"],
        # A WebP original (16 MP): decoded with libwebp, like sharp does.
        "dragonfly.webp": ["Dragonfly_by_Bolly.jpg", "-quality", "90"],
        "sunset-alpha.png": ["sunset_by_Aitzol_Berasategi.jpg", "(", "+clone", "-fill", "white", "-colorize", "100",
                             "-sparse-color", "barycentric", "0,0 white %[fx:w-1],%[fx:h-1] gray(20)", ")",
                             "-alpha", "off", "-compose", "copy_opacity", "-composite"],
    }
    for name, args in made.items():
        target = CORPUS_DIR / name
        if not target.exists():
            run([CONVERT, PHOTOS / args[0], *args[1:], target])
        files.append(target)
    return files


def describe(path):
    out = run(["identify", "-format", "%w %h %[interlace] %[channels]", f"{path}[0]"]).stdout.split()
    w, h = int(out[0]), int(out[1])
    kind = {".png": "PNG", ".webp": "WebP"}.get(path.suffix) or ("progressive" if out[2] == "JPEG" else "baseline")
    if "a" in out[3]:
        kind += " + alpha"
    return w, h, kind


GNU_TIME = "/usr/bin/time"  # Debian's `time` (make bench-deps installs it)


def timed(cmd, env=None):
    """Runs cmd; returns (wall s, CPU s, peak RSS MB, stdout). Peak RSS is GNU time's %M of the
    command itself: the rusage of a child forked from this Python process would count Python's
    own pages too (they are the child's until it execs)."""
    if not os.path.exists(GNU_TIME):
        sys.exit("needs GNU time: apt-get install time (make bench-deps does)")
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", rss.name] + [str(c) for c in cmd],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        out = proc.stdout.read()
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            sys.exit(f"failed: {' '.join(map(str, cmd))}\n{err.decode(errors='replace')}")
        peak_kb = int(rss.read().strip().splitlines()[-1])
    return wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024, out.decode()


def ours_bench_binary():
    out = subprocess.run(["cargo", "bench", "-p", "image-processor", "--bench", "variants", "--locked", "--no-run",
                          "--message-format", "json"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "variants" \
                and msg.get("executable"):
            return msg["executable"]
    sys.exit("could not find the variants bench binary")


def ssim(a, b):
    ffmpeg = os.environ.get("FFMPEG_PATH", "ffmpeg")
    out = subprocess.run([ffmpeg, "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi", "ssim", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    match = re.search(r"All:([0-9.]+)", out)
    return float(match.group(1)) if match else float("nan")


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=None, help="only images whose name contains this")
    args = parser.parse_args()
    if not MEDIA_EDGE.exists():
        sys.exit("build first: cargo build --release --bin media-edge (make bench does)")
    bench = ours_bench_binary()
    vips_env = {"VIPS_CONCURRENCY": "1"}
    files = [f for f in corpus() if not args.only or args.only in f.name]
    work = Path(tempfile.mkdtemp(prefix="media-edge-variants-"))
    rows = []
    for path in files:
        w, h, kind = describe(path)
        alpha = "alpha" in kind
        ext = "png" if alpha else "jpg"
        warm = {"ours": [], "ours_cpu": [], "ours_faults": [], "sharp": [], "sharp_cpu": []}
        proc = {k: [] for k in ("ours", "ours_cpu", "ours_mem", "sharp", "sharp_cpu", "sharp_mem",
                                "vips", "vips_cpu", "vips_mem")}
        ours_out, vips_out, sharp_out = work / "ours", work / "vips" / path.stem, work / "sharp"
        vips_out.mkdir(parents=True, exist_ok=True)
        for _ in range(args.rounds):
            _, _, _, out = timed([*ONE_CORE, bench, "--repeat", args.repeat, "--formats", "none", "--out", ours_out,
                                  path])
            result = json.loads(out)
            warm["ours"].append(result["median_ms"])
            warm["ours_cpu"].append(result["cpu_ms"])
            warm["ours_faults"].append(result["page_faults_per_render"])
            _, _, _, out = timed([*ONE_CORE, "node", SHARP, "--repeat", args.repeat, "--out", sharp_out, path])
            result = json.loads(out)
            warm["sharp"].append(result["median_ms"])
            warm["sharp_cpu"].append(result["cpu_ms"])

            # A fresh --out each round: `media-edge process` skips originals already up to date there.
            wall, cpu, mem, _ = timed([*ONE_CORE, MEDIA_EDGE, "process", path, "--out",
                                       work / f"process-{len(proc['ours'])}"],
                                      env={"OUTPUT_FORMATS": "none"})
            proc["ours"].append(wall); proc["ours_cpu"].append(cpu); proc["ours_mem"].append(mem)
            wall, cpu, mem, _ = timed([*ONE_CORE, "node", SHARP, "--out", work / "sharp-process", path])
            proc["sharp"].append(wall); proc["sharp_cpu"].append(cpu); proc["sharp_mem"].append(mem)
            total = [0.0, 0.0, 0.0]
            for name, width in WIDTHS.items():
                options = "[strip]" if alpha else "[Q=80,optimize_coding,strip]"
                wall, cpu, mem, _ = timed([*ONE_CORE, "vipsthumbnail", path, "--size", f"{width}x",
                                           "-o", f"{vips_out}/{name}.{ext}{options}"], env=vips_env)
                total = [total[0] + wall, total[1] + cpu, max(total[2], mem)]
            proc["vips"].append(total[0]); proc["vips_cpu"].append(total[1]); proc["vips_mem"].append(total[2])

        quality = {}
        for name in ("pc", "thumbnail"):
            files = {"ours": ours_out / path.stem / f"{name}.{ext}", "vips": vips_out / f"{name}.{ext}"}
            quality[name] = {}
            for who, file in files.items():
                # Each against the original resized to its own size (the tools round heights differently).
                fw, fh, _ = describe(file)
                reference = work / f"{path.stem}-{name}-{fw}x{fh}.png"
                if not reference.exists():
                    run([CONVERT, f"{path}[0]", "-auto-orient", "-filter", "Lanczos", "-resize", f"{fw}x{fh}!",
                         reference])
                quality[name][f"{who}_bytes"] = file.stat().st_size
                quality[name][f"{who}_ssim"] = None if alpha else ssim(file, reference)
        paired = lambda ours, peer: median([a / b for a, b in zip(ours, peer)])
        row = {"image": path.name, "mp": w * h / 1e6, "kind": kind,
               "warm_ratio": paired(warm["ours"], warm["sharp"]), "proc_ratio": paired(proc["ours"], proc["sharp"]),
               **{f"warm_{k}": median(v) for k, v in warm.items()},
               **{f"proc_{k}": median(v) for k, v in proc.items()}, "quality": quality}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    report(rows, args)


def report(rows, args):
    print(f"\nVariant set (200/640/1024/1920 px), {os.cpu_count()} cores, one worker thread each; "
          f"medians of {args.rounds} interleaved rounds ({args.repeat} warm runs per round)\n")
    print("| image | MP | kind | warm ours ms (CPU) | warm sharp ms (CPU) | ours/sharp, paired | process ours s | "
          "process sharp s | ours/sharp, paired | vipsthumbnail ×4 s | peak MB ours / sharp / vips |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['image'][:28]} | {r['mp']:.1f} | {r['kind']} | {r['warm_ours']:.0f} ({r['warm_ours_cpu']:.0f}) | "
              f"{r['warm_sharp']:.0f} ({r['warm_sharp_cpu']:.0f}) | {r['warm_ratio']:.2f} | "
              f"{r['proc_ours']:.2f} | {r['proc_sharp']:.2f} | {r['proc_ratio']:.2f} | "
              f"{r['proc_vips']:.2f} | {r['proc_ours_mem']:.0f} / {r['proc_sharp_mem']:.0f} / {r['proc_vips_mem']:.0f} |")
    print("\n| image | variant | ours bytes | libvips bytes | ours/libvips | ours SSIM | libvips SSIM |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for name, q in r["quality"].items():
            s = lambda v: "-" if v is None else f"{v:.4f}"
            print(f"| {r['image'][:28]} | {name} | {q['ours_bytes']} | {q['vips_bytes']} | "
                  f"{q['ours_bytes'] / q['vips_bytes']:.3f} | {s(q['ours_ssim'])} | {s(q['vips_ssim'])} |")

    warm = [r["warm_ratio"] for r in rows]
    warm_progressive = [r["warm_ratio"] for r in rows if r["kind"].startswith("progressive")]
    whole = [r["proc_ratio"] for r in rows]
    memory_ok = all(r["proc_ours_mem"] <= r["proc_sharp_mem"] for r in rows)
    equal_quality = [q["ours_bytes"] / q["vips_bytes"] for r in rows for q in r["quality"].values()
                     if q["ours_ssim"] is not None and abs(q["ours_ssim"] - q["vips_ssim"]) <= 0.002]
    check = lambda ok: "met" if ok else "NOT met"
    faults = max(r["warm_ours_faults"] for r in rows)
    print(f"\nours, page faults per warm render: at most {faults:.0f} (under 2 000 when one image's memory "
          f"is reused for the next; the heap grows once after the warm-up; without reuse 3 000–36 000)")
    print(f"\nwarm, ours/sharp: median {median(warm):.2f} (target ≤ 0.75: {check(median(warm) <= 0.75)}); "
          f"progressive JPEGs {median(warm_progressive):.2f} (target ≤ 0.60: {check(median(warm_progressive) <= 0.6)})")
    print(f"whole process, ours/sharp: median {median(whole):.2f} (target ≤ 0.50: {check(median(whole) <= 0.5)})")
    print(f"peak memory ≤ sharp's on every image: {check(memory_ok)}")
    if equal_quality:
        print(f"bytes vs libvips where SSIM is within 0.002: max {max(equal_quality):.3f} "
              f"(target ≤ 1.05: {check(max(equal_quality) <= 1.05)}) over {len(equal_quality)} variants")


if __name__ == "__main__":
    main()
