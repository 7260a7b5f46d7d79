#!/usr/bin/env python3
"""Cold start of the image processor: process start to ready for its first event, and the size
of each function's bootstrap.

    python3 bench/cold_start.py [--runs 20]

Starts target/release/image-processor (this machine's architecture) against a stand-in Lambda
Runtime API on 127.0.0.1 and times the moment its first `GET /runtime/invocation/next` arrives:
everything the function does before it can take an event (configuration, SDK clients, runtime
set-up). Lambda's own init (downloading and unpacking the zip, starting the sandbox) is not
included. Then lists bootstrap sizes: this machine's release builds, and the arm64 zips from
`make build` (target/lambda/) when present.
"""
import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ["image-processor", "notifier", "edge-router"]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_request = None
    ready = threading.Event()

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next") and not RuntimeApi.ready.is_set():
            RuntimeApi.first_request = time.perf_counter()
            RuntimeApi.ready.set()
        # Never answer: the function waits for an event until it is stopped.
        time.sleep(2)

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    binary = ROOT / "target/release/image-processor"
    if not binary.exists():
        sys.exit("build first: cargo build --release --bin image-processor (make bench does)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "image-processor", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "3008",
        "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "ORIGINALS_BUCKET": "originals", "VARIANTS_BUCKET": "variants",
        "STATUS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:status",
    }
    times = []
    for _ in range(args.runs):
        RuntimeApi.ready.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not RuntimeApi.ready.wait(10):
            proc.kill()
            sys.exit("the function never asked for an event")
        times.append((RuntimeApi.first_request - start) * 1000)
        proc.kill()
        proc.wait()
    machine = os.uname().machine
    print(f"\nimage-processor cold start ({machine}, {args.runs} runs): median {statistics.median(times):.1f} ms, "
          f"min {min(times):.1f} ms, max {max(times):.1f} ms (process start to first GET /invocation/next)\n")
    print("| function | bootstrap, this machine (" + machine + ") | arm64 bootstrap | arm64 zip |")
    print("|---|---|---|---|")
    for name in FUNCTIONS:
        local = ROOT / "target/release" / name
        zipped = ROOT / "target/lambda" / name / "bootstrap.zip"
        arm_zip = arm_raw = "-"
        if zipped.exists():
            arm_zip = f"{zipped.stat().st_size / 1e6:.1f} MB"
            with zipfile.ZipFile(zipped) as z:
                arm_raw = f"{sum(i.file_size for i in z.infolist()) / 1e6:.1f} MB"
        local_size = f"{local.stat().st_size / 1e6:.1f} MB" if local.exists() else "-"
        print(f"| {name} | {local_size} | {arm_raw} | {arm_zip} |")
    server.shutdown()


if __name__ == "__main__":
    main()
