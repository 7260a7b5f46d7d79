#!/usr/bin/env python3
"""`media-edge logs --format html` in a real browser (Debian's chromium, headless; installed if
missing, as scripts/browser-check.py does).

Writes the report over samples/cdn-logs (with the originals' manifests) to target/report-check/report.html, then checks:

  * the page loads nothing: no src/href/url()/@import/fetch in it, and Chromium runs it with every
    host name unresolvable;
  * no console message at all (an error, an uncaught exception) while it loads;
  * its script ran: every table is sortable (the DOM after load says how many), and clicking a
    column sorts it ascending then descending (the page's own #sort-check);
  * the screenshot is the report: the dark header, the chart's bars and line in their colours, and
    tables (not a blank or an error page).

Ends with `report-browser-check: N passed, M failed` and exits 1 on any failure.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target/debug/media-edge"
OUT = ROOT / "target/report-check"
WIDTH, HEIGHT = 1280, 2200
TABLES = 10  # nine report tables and the savings table (with --manifests)
BARS, LINE, HEADER = (0x4E, 0x79, 0xA7), (0xE1, 0x57, 0x59), (0x1D, 0x23, 0x30)

spec = importlib.util.spec_from_file_location("browser_check", ROOT / "scripts/browser-check.py")
browser_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(browser_check)

passed, failed = 0, []


def record(name: str, detail: str, ok: bool) -> None:
    global passed
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if ok:
        passed += 1
    else:
        failed.append(name)


def chromium_run(chromium: str, extra: list[str], url: str, profile: Path) -> subprocess.CompletedProcess:
    args = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", *extra, url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def count_near(rows: list[bytes], colour: tuple[int, int, int], tolerance: int = 12) -> int:
    r0, g0, b0 = colour
    n = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if abs(row[i] - r0) <= tolerance and abs(row[i + 1] - g0) <= tolerance and abs(row[i + 2] - b0) <= tolerance:
                n += 1
    return n


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    page = OUT / "report.html"
    made = subprocess.run(
        [str(BINARY), "logs", "samples/cdn-logs", "--format", "html", "--manifests", "samples/cdn-manifests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if made.returncode != 0:
        sys.exit(f"report-browser-check: media-edge logs failed: {made.stderr}")
    page.write_text(made.stdout)
    html = made.stdout
    loads = re.findall(r"""(?:\bsrc\s*=|\bhref\s*=|url\(|@import|fetch\(|XMLHttpRequest|<link|<iframe)""", html, re.I)
    record("loads nothing", f"{len(loads)} references to other resources", not loads)

    chromium = browser_check.ensure_chromium()
    with tempfile.TemporaryDirectory() as profile:
        url = page.as_uri()
        dom = chromium_run(chromium, ["--dump-dom"], url + "#sort-check", Path(profile) / "a")
        console = [l for l in dom.stderr.splitlines() if ":CONSOLE" in l or "Uncaught" in l]
        record("no console messages", f"{len(console)}" + (f": {console[0][:200]}" if console else ""), not console)
        ready = re.search(r'data-ready="sortable:(\d+)"', dom.stdout)
        record("script ran, tables sortable", ready.group(0) if ready else "no data-ready", bool(ready) and int(ready.group(1)) == TABLES)
        check = re.search(r'data-sort-check="ascending:([-\d.]+),descending:([-\d.]+)"', dom.stdout)
        record(
            "a click sorts ascending, a second descending",
            check.group(0) if check else "no data-sort-check",
            bool(check) and float(check.group(1)) < float(check.group(2)),
        )
        shot_path = OUT / "screenshot.png"
        shot = chromium_run(chromium, [f"--screenshot={shot_path}"], url, Path(profile) / "b")
        if shot.returncode != 0 or not shot_path.exists():
            record("screenshot", f"chromium exited {shot.returncode}", False)
        else:
            width, height, rows = browser_check.read_png_rgb(shot_path)
            record("screenshot size", f"{width}×{height}", (width, height) == (WIDTH, HEIGHT))
            header = count_near(rows[:40], HEADER)
            record("the dark header", f"{header} header pixels in the top 40 rows", header > WIDTH * 20)
            bars, line = count_near(rows, BARS), count_near(rows, LINE)
            record("the chart's bars and line", f"{bars} bar pixels, {line} line pixels", bars > 2000 and line > 300)
            distinct = len({row[i : i + 3] for row in rows[::8] for i in range(0, len(row), 24)})
            record("not blank", f"{distinct} distinct colours sampled", distinct > 40)
    print(f"page: {page.relative_to(ROOT)}, screenshot: {(OUT / 'screenshot.png').relative_to(ROOT)}")
    print(f"report-browser-check: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
