#!/usr/bin/env python3
"""Conformance: every file of a third-party image corpus through `media-edge process`.

The corpus is the test images of Pillow (its source distribution on PyPI, pinned by version and
SHA-256: the PNG suite, the APNG suite, GIFs, MPOs, WebPs, JPEGs and fuzz regressions, none
written here) plus the files in tests/conformance/files/ (made by make-corpus.py: the GIF quirks
browsers accept, APNG/WebP timing, damaged PNGs, MPO and gain-map JPEGs). Every file with an
image extension we might meet (.jpg .jpeg .png .apng .gif .webp .mpo) is run on its own, in its own
process, with a time box, and its peak memory (wait4's ru_maxrss) is read. The result is compared
with tests/conformance/expected.tsv, one line per file:

    path <TAB> processed <TAB> FORMAT WxH frames=N [video=MSms] [not-carried-over]
    path <TAB> failed <TAB> the reason's first clause, as an uploader reads it

Any difference, crash (a signal, or an exit that is neither success nor a reported failure),
time-out, or peak over MAX_RSS_MIB fails the run. `--record` rewrites expected.tsv from this run
(review the diff: it is the list of what we accept and refuse). Ends with
`conformance: N passed, M failed`.

Python stdlib only. Needs target/debug/media-edge; downloads the sdist (47 MB) once.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected.tsv"
BINARY = ROOT / "target/debug/media-edge"
CACHE = ROOT / ".local/corpus"

PILLOW = "pillow-11.3.0"
PILLOW_SHA256 = "3828ee7586cd0b2091b6209e5ad53e20d0649bbe87164a459d0676e035e8f523"
# As listed by PyPI's simple index (https://pypi.org/simple/pillow/).
PILLOW_URL = (
    "https://files.pythonhosted.org/packages/f3/0d/"
    "d0d6dea55cd152ce3d6767bb38a8fc10e33796ba4ba210cbab9354b6d238/pillow-11.3.0.tar.gz"
)
EXTENSIONS = {".jpg", ".jpeg", ".png", ".apng", ".gif", ".webp", ".mpo"}

# Per file. The corpus is small images; a file that needs more is a regression.
TIME_BOX_S = 60
MAX_RSS_MIB = 256


def pillow_images() -> Path:
    """Tests/images of the pinned Pillow sdist, downloaded once into .local/corpus."""
    target = CACHE / PILLOW
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"{PILLOW}.tar.gz"
    if not archive.exists() or sha256(archive) != PILLOW_SHA256:
        url = PILLOW_URL
        partial = archive.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as f:
            shutil.copyfileobj(response, f)
        partial.replace(archive)
    if sha256(archive) != PILLOW_SHA256:
        sys.exit(f"conformance: {archive} does not have the pinned SHA-256")
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(archive) as tar:
        members = [
            m for m in tar.getmembers()
            if m.isfile() and m.name.startswith(f"{PILLOW}/Tests/images/")
            and Path(m.name).suffix.lower() in EXTENSIONS
        ]
        for member in members:
            member.name = member.name[len(f"{PILLOW}/Tests/images/"):]
        tar.extractall(target, members=members, filter="data")
    (target / ".complete").touch()
    return target


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus() -> list[tuple[str, Path]]:
    """(name in expected.tsv, file) for every file, sorted."""
    files = []
    pillow = pillow_images()
    for path in sorted(pillow.rglob("*")):
        if path.is_file() and path.suffix.lower() in EXTENSIONS:
            files.append((f"pillow/{path.relative_to(pillow)}", path))
    own = HERE / "files"
    for path in sorted(own.rglob("*")):
        if path.is_file():
            files.append((f"own/{path.relative_to(own)}", path))
    return files


def run_one(name: str, path: Path, work: Path) -> dict:
    """Runs `media-edge process` on one file in its own process; returns what happened."""
    out = work / hashlib.sha1(name.encode()).hexdigest()[:12]
    out.mkdir(parents=True)
    stdout_path, stderr_path = out / "stdout", out / "stderr"
    env = dict(os.environ, RUST_LOG="error")
    env.setdefault("FFMPEG_PATH", str(ROOT / f".local/ffmpeg/{os.uname().machine}/bin/ffmpeg"))
    started = time.monotonic()
    with open(stdout_path, "wb") as so, open(stderr_path, "wb") as se:
        pid = os.posix_spawn(
            str(BINARY), [str(BINARY), "process", str(path), "--out", str(out / "out")], env,
            file_actions=[(os.POSIX_SPAWN_DUP2, so.fileno(), 1), (os.POSIX_SPAWN_DUP2, se.fileno(), 2)],
            setsid=True,
        )
    # wait4, not Popen: it gives this child's own peak RSS.
    timed_out = False
    while True:
        waited, status, usage = os.wait4(pid, os.WNOHANG)
        if waited == pid:
            break
        if time.monotonic() - started > TIME_BOX_S:
            timed_out = True
            os.killpg(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.02)
    seconds = time.monotonic() - started
    stdout, stderr = stdout_path.read_bytes(), stderr_path.read_bytes()
    result = {"name": name, "seconds": round(seconds, 2), "rss_mib": usage.ru_maxrss // 1024}
    if timed_out:
        return {**result, "verdict": f"timed out after {TIME_BOX_S} s"}
    if os.WIFSIGNALED(status):
        return {**result, "verdict": f"crashed (signal {os.WTERMSIG(status)})", "stderr": tail(stderr)}
    code = os.waitstatus_to_exitcode(status)
    try:
        events = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return {**result, "verdict": f"unreadable status output: {e}", "stderr": tail(stderr)}
    if len(events) != 1:
        return {**result, "verdict": f"{len(events)} status events (exit {code})", "stderr": tail(stderr)}
    event = events[0]
    if event["outcome"] == "failed":
        if code != 1:
            return {**result, "verdict": f"a reported failure exited {code}"}
        message = f"{event['failure']['class']}: {event['failure']['reason']}"
        return {**result, "verdict": "ok", "outcome": "failed", "detail": first_clause(message), "message": message}
    if code != 0:
        return {**result, "verdict": f"processed but exited {code}", "stderr": tail(stderr)}
    manifests = list((out / "out").rglob("manifest.json"))
    if len(manifests) != 1:
        return {**result, "verdict": f"{len(manifests)} manifests"}
    manifest = json.loads(manifests[0].read_text())
    detail = f"{manifest['source_format']} {manifest['width']}x{manifest['height']} frames={manifest['frames']}"
    video = next((v for v in manifest["variants"] if v["name"] == "video"), None)
    if video:
        # What the MP4 really holds, read back by ffmpeg: its frame count and play time.
        mp4 = manifests[0].parent / video["formats"][0]["key"].split("/", 1)[1]
        frames, duration_ms = mp4_frames_and_duration(mp4, env["FFMPEG_PATH"])
        if frames != manifest["frames"]:
            result["mp4_problem"] = f"the MP4 has {frames} frames, the manifest says {manifest['frames']}"
        detail += f" video={duration_ms}ms"
    if manifest.get("not_carried_over"):
        detail += " not-carried-over"
    shutil.rmtree(out, ignore_errors=True)
    return {**result, "verdict": "ok", "outcome": "processed", "detail": detail}


def run_guarded(name: str, path: Path, work: Path) -> dict:
    """run_one, with a bug in this runner reported as that file's failure instead of ending the run."""
    try:
        return run_one(name, path, work)
    except Exception as e:  # noqa: BLE001
        return {"name": name, "seconds": 0, "rss_mib": 0, "verdict": f"runner error: {e!r}"}


def mp4_frames_and_duration(mp4: Path, ffmpeg: str) -> tuple[int | None, int | None]:
    done = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", str(mp4), "-map", "0:v", "-c", "copy",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=60)
    text = done.stderr
    frames = re.findall(r"frame=\s*(\d+)", text)
    duration = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", text)
    duration_ms = None
    if duration:
        h, m, sec = duration.groups()
        duration_ms = round((int(h) * 3600 + int(m) * 60 + float(sec)) * 1000)
    return (int(frames[-1]) if frames else None), duration_ms


def first_clause(message: str) -> str:
    """The reason without the decoder's technical detail in parentheses at its end."""
    message = message.split(" (", 1)[0] if message.rstrip().endswith(")") else message
    return message.strip()


def tail(data: bytes) -> str:
    return data.decode(errors="replace")[-600:]


def read_expected() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    expected, chromium = {}, {}
    if EXPECTED.exists():
        for line in EXPECTED.read_text().splitlines():
            if line and not line.startswith("#"):
                name, outcome, detail, shown = (line.split("\t") + [""])[:4]
                expected[name] = (outcome, detail)
                if shown:
                    chromium[name] = shown
    return expected, chromium


# Where we knowingly differ from what Chromium shows, and why. Everything else must match:
# what Chromium shows completely we process at its size and frame count; what it refuses we refuse.
# Files Chromium shows only in part (truncated, damaged) may go either way.
KNOWN_DIFFERENCES = {
    "pillow/apng/mode_16bit.png": "ffmpeg 9.0's APNG decoder drops the frame it would have to blend at 16 bits: "
    "the MP4 holds the first frame only",
}


def compare_with_chromium(name: str, outcome: str, detail: str, shown: str) -> str | None:
    """Why this row breaks the rules against Chromium's view, or None."""
    if name in KNOWN_DIFFERENCES or not shown or shown.startswith("shows-part"):
        return None
    if shown == "refuses":
        return None if outcome == "failed" else f"Chromium refuses it, we process it ({detail})"
    _, size, frames, *duration = shown.split()
    # frames=0: Chromium's decoder rejected the animation and <img> shows the default image.
    frames = "frames=1" if frames == "frames=0" else frames
    if outcome != "processed":
        return f"Chromium shows it ({shown}), we refuse it ({detail})"
    ours = detail.split()
    if ours[1:3] != [size, frames]:
        return f"Chromium shows {size} {frames}, we make {ours[1]} {ours[2]}"
    video = next((word.split("=")[1] for word in ours if word.startswith("video=")), None)
    if duration:
        # ffmpeg reports the MP4's length in hundredths of a second.
        chromium_ms = int(duration[0].split("=")[1].removesuffix("ms"))
        ours_ms = int(video.removesuffix("ms")) if video and video != "Nonems" else None
        if ours_ms is None or abs(ours_ms - chromium_ms) > 10:
            return f"Chromium plays it for {chromium_ms}ms, our MP4 for {video}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="rewrite expected.tsv from this run")
    parser.add_argument("--only", help="run only files whose name contains this")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--browser", action="store_true",
                        help="also ask headless Chromium what it shows of each file and check the recorded view")
    args = parser.parse_args()
    if not BINARY.exists():
        sys.exit(f"conformance: build {BINARY} first (cargo build -p media-edge-cli)")
    files = [(n, p) for n, p in corpus() if not args.only or args.only in n]
    expected, chromium_recorded = read_expected()
    work = Path(tempfile.mkdtemp(prefix="conformance-"))
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for result in pool.map(lambda f: run_guarded(f[0], f[1], work), files):
            results.append(result)
    shutil.rmtree(work, ignore_errors=True)

    shown_now = {}
    if args.browser:
        import chromium  # noqa: PLC0415 (only with --browser)

        shown_now = chromium.views(files)
    passed = failed = 0
    for r in results:
        problems = []
        if r["verdict"] != "ok":
            problems.append(r["verdict"] + (f": {r.get('stderr', '')}" if r.get("stderr") else ""))
        elif not args.record:
            want = expected.get(r["name"])
            got = (r["outcome"], r["detail"])
            if want is None:
                problems.append(f"not in expected.tsv (got {got[0]}: {got[1]})")
            elif want != got:
                problems.append(f"expected {want[0]}: {want[1]}\n      got {got[0]}: {got[1]}")
        shown = shown_now.get(r["name"]) or chromium_recorded.get(r["name"], "")
        if args.browser and not args.record and shown_now.get(r["name"]) != chromium_recorded.get(r["name"]):
            problems.append(f"Chromium now shows {shown_now.get(r['name'])!r}, recorded {chromium_recorded.get(r['name'])!r}")
        if r.get("mp4_problem") and r["name"] not in KNOWN_DIFFERENCES:
            problems.append(r["mp4_problem"])
        if r["verdict"] == "ok":
            differs = compare_with_chromium(r["name"], r["outcome"], r["detail"], shown)
            if differs:
                problems.append(differs)
        if r.get("rss_mib") is not None and r["rss_mib"] > MAX_RSS_MIB:
            problems.append(f"peak memory {r['rss_mib']} MiB over {MAX_RSS_MIB} MiB")
        if problems:
            failed += 1
            print(f"FAIL {r['name']}: " + "; ".join(problems))
        else:
            passed += 1
    if not args.only and not args.record:
        for name in sorted(set(expected) - {r["name"] for r in results}):
            failed += 1
            print(f"FAIL {name}: in expected.tsv but not in the corpus")
    if args.record:
        # Without --only the table becomes this run's files; with it, other rows stay.
        kept = expected if args.only else {}
        rows = {name: (*kept[name], chromium_recorded.get(name, "")) for name in kept}
        for r in results:
            if r["verdict"] == "ok":
                shown = shown_now.get(r["name"]) or chromium_recorded.get(r["name"], "")
                rows[r["name"]] = (r["outcome"], r["detail"], shown)
        lines = [
            "# name\toutcome\tdetail\twhat headless Chromium shows "
            "(tests/conformance/run.py --record [--browser]; review every change)"
        ]
        lines += ["\t".join((name, *row)) for name, row in sorted(rows.items())]
        EXPECTED.write_text("\n".join(lines) + "\n")
    slowest = sorted(results, key=lambda r: r["seconds"], reverse=True)[:3]
    print("slowest: " + ", ".join(f"{r['name']} {r['seconds']} s" for r in slowest))
    if results:
        largest = max(results, key=lambda r: r["rss_mib"])
        print(f"largest peak RSS: {largest['rss_mib']} MiB ({largest['name']}; bound {MAX_RSS_MIB} MiB)")
    print(f"conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
