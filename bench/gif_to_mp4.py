#!/usr/bin/env python3
"""GIF → MP4 benchmark: size reduction, SSIM, encode time and peak memory on a corpus of
promotional-style GIFs that it regenerates offline from Debian's lomiri-wallpapers photographs.

    python3 bench/gif_to_mp4.py [--ffmpeg PATH] [--corpus DIR] [--quick]

Each GIF is encoded with the processor's exact ffmpeg arguments (printed by
`media-edge ffmpeg-args`) and with ffmpeg's own x264 defaults (crf 23, preset medium) for
comparison; SSIM is measured against the GIF flattened the same way (what a browser shows).
Prints a table and medians. Run through `make bench`, which provides the ffmpeg and the CLI.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PHOTOS = Path("/usr/share/backgrounds")
PALETTE = "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

# name → (ffmpeg input args, filter graph before the palette step). Photographic pans and zooms,
# a crossfade slideshow and animated text: what promotion GIFs are made of.
CORPUS = {
    "pan-960x540": (["-i", PHOTOS / "Bridge_by_Sander_Klootwijk.jpg"],
                    "scale=1920:-2,zoompan=z='1.0+0.002*on':x='iw/2-(iw/zoom/2)+on*2':y='ih/2-(ih/zoom/2)':d=120:s=960x540:fps=20"),
    "zoom-800x450": (["-i", PHOTOS / "sunset_by_Aitzol_Berasategi.jpg"],
                     "scale=1600:-2,zoompan=z='min(zoom+0.0015,1.5)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=200:s=800x450:fps=25"),
    "crossfade-720x720": (["-loop", "1", "-t", "4", "-i", PHOTOS / "Dragonfly_by_Bolly.jpg",
                           "-loop", "1", "-t", "4", "-i", PHOTOS / "aitzgorri_by_Aitzol_Berasategi.jpg",
                           "-loop", "1", "-t", "4", "-i", PHOTOS / "picosdeeuropa_by_Aitzol_Berasategi.jpg"],
                          None),
    "text-960x540": (["-i", PHOTOS / "greentock_by_Peter_Nerlich.jpg"],
                     "scale=960:540,loop=loop=299:size=1:start=0,setpts=N/15/TB,"
                     f"drawtext=fontfile={FONT}:text='SPRING SALE -50%':expansion=none:fontsize=84:fontcolor=white:"
                     "borderw=3:x=w-mod(t*160\\,w+tw):y=h/2-th/2,"
                     f"drawtext=fontfile={FONT}:text='only this week':fontsize=40:fontcolor=yellow:x=(w-tw)/2:y=h-60"),
    "pan-1280x720": (["-i", PHOTOS / "seeding_by_Clements_Engelhardt.jpg"],
                     "scale=2560:-2,zoompan=z='1.1':x='on*2':y='ih/2-(ih/zoom/2)':d=480:s=1280x720:fps=24"),
}
CROSSFADE_GRAPH = ("[0:v]scale=720:720:force_original_aspect_ratio=increase,crop=720:720,fps=20,format=rgb24[a];"
                   "[1:v]scale=720:720:force_original_aspect_ratio=increase,crop=720:720,fps=20,format=rgb24[b];"
                   "[2:v]scale=720:720:force_original_aspect_ratio=increase,crop=720:720,fps=20,format=rgb24[c];"
                   "[a][b]xfade=transition=fade:duration=1:offset=3[ab];"
                   "[ab][c]xfade=transition=fade:duration=1:offset=6[v];[v]")


def make_corpus(ffmpeg, corpus_dir):
    corpus_dir.mkdir(parents=True, exist_ok=True)
    gifs = []
    for name, (inputs, graph) in CORPUS.items():
        target = corpus_dir / f"{name}.gif"
        if not target.exists():
            if graph is None:
                args = [*inputs, "-filter_complex", CROSSFADE_GRAPH + PALETTE]
            else:
                args = [*inputs, "-vf", f"{graph},{PALETTE}"]
            tmp = target.with_suffix(".tmp.gif")
            subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *map(str, args), str(tmp)], check=True)
            tmp.rename(target)
        gifs.append(target)
    return gifs


def run_measured(cmd):
    """Runs cmd; returns (wall seconds, CPU seconds, peak RSS in MiB, stderr)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{stderr.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stderr.decode(errors="replace")


def ssim(ffmpeg, gif, mp4):
    graph = ("[0:v]split[fg][bg];[bg]drawbox=c=0xFFFFFF:t=fill[base];[base][fg]overlay=format=auto,"
             "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=0xFFFFFF,format=yuv420p[ref];"
             "[1:v]format=yuv420p[dist];[dist][ref]ssim")
    out = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-f", "gif", "-i", str(gif), "-i", str(mp4),
                          "-filter_complex", graph, "-f", "null", "-"], capture_output=True, text=True, check=True)
    match = re.search(r"All:([0-9.]+)", out.stderr)
    return float(match.group(1))


def crf_matching(cli, ffmpeg, gif, out_dir, target_ssim):
    """Our preset and tune at the highest CRF whose SSIM still reaches `target_ssim`: the bytes we
    need for the quality ffmpeg's defaults give. Returns (crf, bytes, ssim)."""
    def encode(crf):
        mp4 = out_dir / f"{gif.stem}.crf{crf}.mp4"
        env = dict(os.environ, VIDEO_CRF=str(crf))
        cmd = json.loads(subprocess.run([cli, "ffmpeg-args", str(gif), str(mp4)], capture_output=True,
                                        text=True, check=True, env=env).stdout)
        run_measured(cmd)
        return (crf, mp4.stat().st_size, ssim(ffmpeg, gif, mp4))

    # Walk up from 23 while the quality holds; if 23 already falls short, walk down.
    best = encode(23)
    step = 1 if best[2] >= target_ssim else -1
    crf = 23
    while 0 < crf + step < 52:
        crf += step
        candidate = encode(crf)
        if step > 0 and candidate[2] < target_ssim:
            break
        best = candidate
        if step < 0 and candidate[2] >= target_ssim:
            break
    return best if best[2] >= target_ssim else None


def our_args(cli, gif, mp4):
    """The processor's own ffmpeg command line for this GIF (same settings, same environment)."""
    out = subprocess.run([cli, "ffmpeg-args", str(gif), str(mp4)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ffmpeg", default=os.environ.get("FFMPEG_PATH", "ffmpeg"))
    parser.add_argument("--cli", default="target/release/media-edge")
    parser.add_argument("--corpus", default=".local/bench/gif")
    parser.add_argument("--quick", action="store_true", help="only the first two GIFs")
    parser.add_argument("--equal-ssim", action="store_true",
                        help="also find, per GIF, the bytes our preset needs for the SSIM of ffmpeg's defaults")
    args = parser.parse_args()

    corpus_dir = Path(args.corpus)
    gifs = make_corpus(args.ffmpeg, corpus_dir)
    if args.quick:
        gifs = gifs[:2]
    out_dir = corpus_dir / "out"
    out_dir.mkdir(exist_ok=True)

    rows = []
    print(f"{'gif':<20} {'GIF MB':>7} | {'ours MB':>7} {'saved':>6} {'SSIM':>6} {'enc s':>6} {'CPU s':>6} {'RSS MB':>6}"
          f" | {'default MB':>10} {'saved':>6} {'SSIM':>6} {'enc s':>6}")
    for gif in gifs:
        gif_bytes = gif.stat().st_size
        ours = out_dir / f"{gif.stem}.ours.mp4"
        cmd = our_args(args.cli, gif, ours)
        wall, cpu, rss, _ = run_measured(cmd)
        default = out_dir / f"{gif.stem}.default.mp4"
        d_wall, _, _, _ = run_measured([args.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "gif", "-i", str(gif),
                                        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                        "-an", str(default)])
        row = {
            "gif": gif.stem, "gif_mb": gif_bytes / 2**20,
            "ours_mb": ours.stat().st_size / 2**20, "ours_saved": 1 - ours.stat().st_size / gif_bytes,
            "ours_ssim": ssim(args.ffmpeg, gif, ours), "ours_s": wall, "ours_cpu": cpu, "ours_rss": rss,
            "def_mb": default.stat().st_size / 2**20, "def_saved": 1 - default.stat().st_size / gif_bytes,
            "def_ssim": ssim(args.ffmpeg, gif, default), "def_s": d_wall,
        }
        if args.equal_ssim:
            match = crf_matching(args.cli, args.ffmpeg, gif, out_dir, row["def_ssim"])
            row["eq_bytes_ratio"] = match[1] / default.stat().st_size if match else float("nan")
            row["eq_crf"] = match[0] if match else None
        rows.append(row)
        print(f"{row['gif']:<20} {row['gif_mb']:7.1f} | {row['ours_mb']:7.2f} {row['ours_saved']:6.1%} {row['ours_ssim']:6.4f}"
              f" {row['ours_s']:6.1f} {row['ours_cpu']:6.1f} {row['ours_rss']:6.0f} | {row['def_mb']:10.2f}"
              f" {row['def_saved']:6.1%} {row['def_ssim']:6.4f} {row['def_s']:6.1f}"
              + (f" | equal SSIM: crf {row['eq_crf']}, {row['eq_bytes_ratio']:.2f}x default bytes" if args.equal_ssim else ""),
              flush=True)

    med = lambda key: statistics.median(r[key] for r in rows)
    print(f"\nmedian: ours saves {med('ours_saved'):.1%} at SSIM {med('ours_ssim'):.4f}, {med('ours_s'):.1f} s, "
          f"{med('ours_rss'):.0f} MB peak; ffmpeg defaults save {med('def_saved'):.1%} at SSIM {med('def_ssim'):.4f}, "
          f"{med('def_s'):.1f} s")
    if args.equal_ssim:
        print(f"at equal SSIM our encoder settings need {med('eq_bytes_ratio'):.2f}x the bytes of ffmpeg's defaults (median)")
    ok = med("ours_saved") >= 0.90 and med("ours_ssim") >= 0.95
    print(f"target (median saving >= 90% at median SSIM >= 0.95): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
