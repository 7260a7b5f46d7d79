#!/usr/bin/env python3
"""`media-edge logs` throughput and memory on a generated multi-GB CloudFront log set.

    python3 bench/cdn_logs.py [--gigabytes 2] [--dir target/bench/cdn-logs]

Generates one day of logs with scripts/make-sample-logs.py (~163 MB, 10 files per hour), then
copies it under N day directories until the set reaches --gigabytes; a gzipped copy of one day is
read too, and the same day as standard logging v2 delivers it (scripts/cdn-logs-v2.py: gzipped
JSON lines, and Parquet). Runs the release binary with 1 and 2 jobs, output to /dev/null, and reports wall time,
CPU time, MB/s (uncompressed input per second of wall time, and per CPU-second) and peak RSS.
Memory should not grow with the input: the report's state grows with distinct objects only,
so the one-day and the N-day runs should have about the same peak.
"""
import argparse
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target/release/media-edge"
GNU_TIME = "/usr/bin/time"  # Debian's `time` (make bench-deps installs it)


def generate(base: Path, requests: int):
    if base.exists() and any(base.iterdir()):
        return
    base.mkdir(parents=True, exist_ok=True)
    hours = ",".join(str(h) for h in range(24))
    subprocess.run([sys.executable, ROOT / "scripts/make-sample-logs.py", base, "--requests", str(requests),
                    "--files-per-hour", "10", "--plain-hours", hours, "--seed", "11"], check=True)


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def requests_in(source: Path) -> int:
    out = subprocess.run([BINARY, "logs", source, "--format", "json"], capture_output=True, check=True)
    import json

    return json.loads(out.stdout)["input"]["requests"]


def v2_copy(day: Path, target: Path, fmt: str):
    if not target.exists():
        subprocess.run([sys.executable, ROOT / "scripts/cdn-logs-v2.py", day, target, "--format", fmt], check=True)


def uncompressed_size(path: Path) -> int:
    total = 0
    for f in path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            total += len(gzip.decompress(data)) if data[:2] == b"\x1f\x8b" else len(data)
    return total


def run(label, source: Path, jobs: int, uncompressed: int, requests: int = 0):
    start = time.perf_counter()
    # Peak memory from GNU time (%M, the process's own high-water mark): the rusage of a child
    # forked from this Python process counts Python's memory too (its pages before exec).
    proc = subprocess.Popen([GNU_TIME, "-f", "%M", BINARY, "logs", source, "--jobs", str(jobs), "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"media-edge logs failed on {source}: {stderr}")
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    peak_kb = int(stderr.strip().splitlines()[-1])
    mb = uncompressed / 1e6
    print(f"| {label:<34} | {jobs:>4} | {mb:>9.0f} | {wall:>7.2f} | {cpu:>7.2f} | {mb / wall:>8.0f} | "
          f"{mb / cpu:>9.0f} | {requests / cpu / 1000:>11.0f} | {peak_kb / 1024:>8.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--dir", type=Path, default=ROOT / "target/bench/cdn-logs")
    parser.add_argument("--requests-per-day", type=int, default=330_000)
    args = parser.parse_args()
    if not BINARY.exists():
        sys.exit("build it first: cargo build --release --bin media-edge (make bench does)")
    if not Path(GNU_TIME).exists():
        sys.exit("needs GNU time: apt-get install time (make bench-deps does)")

    day = args.dir / "day"
    generate(day, args.requests_per_day)
    day_bytes = size_of(day)
    days = max(1, int(args.gigabytes * 1e9 // day_bytes))
    many = args.dir / f"{days}-days"
    if not many.exists():
        for n in range(days):
            shutil.copytree(day, many / f"{n:02d}")
    gz = args.dir / "day-gz"
    if not gz.exists():
        gz.mkdir()
        for f in sorted(day.iterdir()):
            (gz / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes(), compresslevel=6, mtime=0))
    v2_json, v2_parquet = args.dir / "day-v2-json", args.dir / "day-v2-parquet"
    v2_copy(day, v2_json, "json")
    v2_copy(day, v2_parquet, "parquet")
    # Warm the page cache so the runs measure parsing, not the disk.
    for path in (day, many, gz, v2_json, v2_parquet):
        for f in path.rglob("*"):
            if f.is_file():
                f.read_bytes()

    print(f"\nmedia-edge logs: {os.cpu_count()} cores; one day = {day_bytes / 1e6:.0f} MB in "
          f"{sum(1 for _ in day.iterdir())} files, {args.requests_per_day} requests\n")
    requests = requests_in(day)
    print("| input                              | jobs | MB (raw)  | wall s  | CPU s   | MB/s     | MB/CPU-s  | k req/CPU-s | peak MB  |")
    print("|------------------------------------|------|-----------|---------|---------|----------|-----------|-------------|----------|")
    run("one day, plain", day, 1, day_bytes, requests)
    run("one day, gzip", gz, 1, day_bytes, requests)
    run(f"{days} days, plain ({days * day_bytes / 1e9:.1f} GB)", many, 1, days * day_bytes, days * requests)
    run(f"{days} days, plain ({days * day_bytes / 1e9:.1f} GB)", many, 2, days * day_bytes, days * requests)
    run("one day, v2 JSON (gzip)", v2_json, 1, uncompressed_size(v2_json), requests)
    run("one day, v2 Parquet", v2_parquet, 1, size_of(v2_parquet), requests)
    print("\nMB/s counts uncompressed log bytes (Parquet: file bytes); peak MB is the process's maximum")
    print("resident set (GNU time). v2 JSON carries the stack's RecordFields as quoted strings, so compare k req/CPU-s.")


if __name__ == "__main__":
    main()
