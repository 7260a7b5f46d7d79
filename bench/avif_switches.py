#!/usr/bin/env python3
"""What one libaom switch trades: encode time against bytes at equal SSIMULACRA2.

    FFMPEG_PATH=.local/ffmpeg/x86_64/bin/ffmpeg python3 bench/avif_switches.py IMAGE [SWITCH ...]

IMAGE is resized to 1920 px wide (ffmpeg's bicubic; the reference), then encoded as the image
processor does by default (all-intra, cpu-used 6, tune=iq, 10-bit 4:4:4, one thread, pinned to
one core) at cq-level 35/37/39, and again with each SWITCH added to `-aom-params` at 33–41. A
SWITCH is `key=value[:key=value]`, `8bit` / `8bit:key=value` for 8-bit, or `cpuN` / `cpuN:key=value` for
cpu-used N (the AVIF_EFFORT tiers: fast 8, default 6, max 4). Printed per switch:
the time of the cq 37 encode against the default's, and the bytes interpolated at the default's
cq 37 score against the default's bytes. Needs bench/ssimulacra2 built (bench/formats.py builds it).
"""
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FFMPEG = os.environ.get("FFMPEG_PATH", "ffmpeg")
SCORER = ROOT / "bench/ssimulacra2/target/release/ssimulacra2-score"
PIN = ["taskset", "-c", "0"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    work = Path(tempfile.mkdtemp(prefix="media-edge-switches-"))
    reference, raw = work / "ref.png", work / "ref.rgb"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", sys.argv[1], "-vf", "scale=1920:-2", "-frames:v", "1",
                    "-pix_fmt", "rgb24", reference], check=True)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", reference, "-f", "rawvideo", "-pix_fmt", "rgb24", raw],
                   check=True)
    probe = subprocess.run([FFMPEG, "-hide_banner", "-i", reference], capture_output=True, text=True).stderr
    size = next(w for w in probe.replace(",", " ").split() if "x" in w and w.split("x")[0].isdigit())

    def encode(extra, cq, depth, cpu=6):
        out = work / "out.avif"
        params = "tune=iq" + (":" + extra if extra else "")
        started = time.perf_counter()
        subprocess.run([*PIN, FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size,
                        "-i", raw, "-vf", f"scale=out_color_matrix=bt601:out_range=pc,format={depth}",
                        "-c:v", "libaom-av1", "-still-picture", "1", "-usage", "allintra", "-cpu-used", str(cpu),
                        "-crf", str(cq), "-aom-params", params, "-threads", "1", out], check=True)
        seconds = time.perf_counter() - started
        decoded = work / "out.png"
        subprocess.run([FFMPEG, "-v", "error", "-y", "-i", out, "-frames:v", "1", "-pix_fmt", "rgb24", decoded],
                       check=True)
        score = float(subprocess.run([SCORER, reference, decoded], capture_output=True, text=True,
                                     check=True).stdout.split()[0])
        return seconds, out.stat().st_size, score

    def bytes_at(curve, score):
        points = sorted((s, b) for _, b, s in curve)
        for (s0, b0), (s1, b1) in zip(points, points[1:]):
            if s0 <= score <= s1 and s1 > s0:
                return b0 + (b1 - b0) * (score - s0) / (s1 - s0)
        return None

    default = encode("", 37, "yuv444p10le")
    print(f"default (cq 37): {default[0]:.2f} s, {default[1]:,} bytes, SSIMULACRA2 {default[2]:.2f}", flush=True)
    for switch in sys.argv[2:]:
        depth, extra, cpu = "yuv444p10le", switch, 6
        if extra.startswith("8bit"):
            depth, extra = "yuv444p", extra[4:].lstrip(":")
        if re.match(r"cpu[0-9]", extra):
            cpu, extra = int(extra[3]), extra[4:].lstrip(":")
        curve = [encode(extra, cq, depth, cpu) for cq in (33, 35, 37, 39, 41)]
        at = bytes_at(curve, default[2])
        ratio = f"{at / default[1]:.3f}" if at else "outside the sweep"
        print(f"{switch}: time {curve[2][0] / default[0]:.2f}x, bytes at the default's score {ratio}", flush=True)


if __name__ == "__main__":
    main()
