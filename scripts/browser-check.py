#!/usr/bin/env python3
"""A real browser shows what we make, fetched through the local edge as viewers get it.

Deploys infra/template.yaml as a stack on the emulator (run under scripts/with-emulator.sh),
uploads inputs made here under its input prefix with names that hold a space, a `+`, a `%` and
Hangul (the opaque progressive.jpg fixture, a generated PNG with a gradient alpha, the 3-frame
animated.gif fixture and a generated animated GIF with a transparent band, which also yields
animation.webp), and runs the processor as deployment builds it (target/lambda/image-processor/
bootstrap, `make deployed-build`) on the jobs the template's own notification queued, through
cargo lambda's Runtime API (infra/emulator/invoke.py). Then the local edge (infra/emulator/edge:
the template's behaviours and CloudFront Functions in front of the stack's buckets) serves what
the page shows: for one mid-size variant of each image an <img> per stored format (AVIF and WebP
through the edge; the JPEG/PNG as the bucket holds it, as the reference), the fallback URL through
the edge (which negotiates by Chromium's Accept), the manifest's <picture> snippet unchanged in a
frame whose base is the edge (as wide as the variant, so its `sizes="100vw"` picks that variant;
its root-relative URLs resolve the way they would on the distribution), each MP4 in a <video> (no
poster, so the tile is the decoded first frame) beside the poster, and the animated WebP, all on a
magenta background. Headless Chromium screenshots it; the tiles are compared in the screenshot:

  * every tile differs clearly from the background (a broken image, a 403/404 at the edge or an
    undecoded video shows the background);
  * AVIF and WebP match the JPEG/PNG of the same variant (mean absolute difference per channel);
  * transparent areas show the page background in every format;
  * the <picture> and the negotiated fallback URL match the fallback; the video's first frame and
    the animated WebP's first frame match the poster (the WebP where the GIF is opaque; its
    transparent band shows the page). The stack is deployed with art direction (`Variants`
    thumbnail 1:1, mobile 4:5): the tiles show `mobile`, so the <picture> must pick its
    `<source media>` (a 4:5 box, not the original's shape), and `video-mobile`'s first frame must
    match the poster's `mobile` (the same box);
  * over HTTP: the fallback URL answers Chromium's Accept with the AVIF object's bytes and `Vary:
    Accept`, and no Accept with the fallback's bytes; no request to the edge failed.

A tile blank in the first screenshot (headless Chromium now and then shoots before an iframe's
image is painted) gets one more page load; a file that does not decode is blank both times.
Needs .venv (boto3) and node (the local edge). Installs Debian's chromium if missing (needs
root). Writes target/browser-check/screenshot.png, the page and the reference files under
target/browser-check/out/ (index.html), the stack's description (stack.json), the processor's and
the edge's logs. Ends with `browser-check: N passed, M failed` and exits 1 on any failure.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import operator
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from infra.emulator import deploy, invoke  # noqa: E402  (boto3: run with .venv/bin/python)

BOOTSTRAP = ROOT / "target/lambda/image-processor/bootstrap"
FIXTURES = ROOT / "crates/image-processor/tests/fixtures"
TEMPLATE = ROOT / "tests/browser/page.html"
RESULTS = ROOT / "target/browser-check"
FFMPEG = os.environ.get("FFMPEG_PATH") or str(ROOT / ".local/ffmpeg/x86_64/bin/ffmpeg")

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"  # Chromium's for images
BG = (255, 0, 255)  # magenta: transparency and missing pixels are obvious
WHITE = (255, 255, 255)  # what the poster and the video flatten transparency onto
PAGE_WIDTH = 1320  # two 640-px tiles side by side
GAP, LABEL = 12, 16
PREFERRED_VARIANTS = ("mobile", "tablet", "thumbnail", "pc")
# Art direction on (docs/pipeline.md): `mobile` is a 4:5 box, so the <picture> tile (a frame as
# wide as it, inside PICTURE_MEDIA's default `(max-width: 767px)`) must show that box, not the
# original's shape; an animation's `video-mobile` is cropped to its poster's `mobile` box. (The
# alpha image shows `tablet`, unshaped: see media_tiles.) `Faces` on: the deployed build reads the
# stack's FACES and runs the detector before placing those boxes.
VARIANTS = "thumbnail:200:1x1,mobile:640:4x5,tablet:1024,pc:1920"

# Limits, on 0–255: the largest per-channel mean absolute difference.
SAME_IMAGE = 6.0  # two encodings of one variant
VIDEO = 8.0  # H.264 4:2:0 against the JPEG poster
BLANK = 20.0  # a tile closer than this to the background is blank or broken

# The inputs' names hold what a URL must encode (a space, `+`, `%`, Hangul): the edge resolves
# each to its key the way S3 does.
PHOTO = "progressive photo+1 100%.jpg"
ANIMATED = "animated.gif"
# Generated inputs: where they are transparent, as fractions of the width or height.
ALPHA_PNG = "그라데이션 alpha.png"  # x < 0.25 transparent, 0.25–0.6 a ramp, x > 0.6 opaque
ALPHA_CLEAR, ALPHA_OPAQUE = (0.0, 0.0, 0.23, 1.0), (0.62, 0.0, 1.0, 1.0)
BAND_GIF = "transparent band.gif"  # rows y < 0.2 transparent in every frame
GIF_BAND, GIF_OPAQUE = (0.0, 0.0, 1.0, 0.18), (0.0, 0.22, 1.0, 1.0)
WHOLE = (0.0, 0.0, 1.0, 1.0)


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# Chromium


def ensure_chromium() -> str:
    found = shutil.which("chromium")
    if found:
        log(f"chromium: {found}")
        return found
    command = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
    if os.geteuid() != 0:
        sys.exit(f"browser-check: chromium is not installed and this is not root; run: {command}")
    log(f"chromium is missing, installing Debian's package: {command}")
    subprocess.run(command, shell=True, check=True)
    found = shutil.which("chromium")
    if not found:
        sys.exit("browser-check: chromium still missing after apt-get install")
    return found


def chromium_version(chromium: str) -> str:
    # The Debian launcher script prints a shell warning on stderr on some machines: ignore it.
    done = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or "unknown"


def screenshot(chromium: str, url: str, path: Path, width: int, height: int, profile: Path) -> None:
    args = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--mute-audio",
        "--no-first-run",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--virtual-time-budget=8000",
        f"--screenshot={path}",
        url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not path.exists():
        sys.stderr.write(done.stderr[-4000:])
        sys.exit(f"browser-check: chromium exited {done.returncode} without a screenshot")


# ---------------------------------------------------------------------------------------------
# PNG and GIF, written and read with the standard library


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png_rgba(path: Path, width: int, height: int, rows: list[bytes]) -> None:
    raw = b"".join(b"\0" + row for row in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 6))
    path.write_bytes(data + png_chunk(b"IEND", b""))


def read_png_rgb(path: Path) -> tuple[int, int, list[bytes]]:
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGB rows."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: depth {depth}, colour type {colour}, interlace {interlace} not supported")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    high = int.from_bytes(b"\x80" * stride, "little")
    low = int.from_bytes(b"\x7f" * stride, "little")
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:  # Up: bytewise addition of whole rows, without carries between bytes
            x, u = int.from_bytes(line, "little"), int.from_bytes(prev, "little")
            line = bytearray((((x & low) + (u & low)) ^ ((x ^ u) & high)).to_bytes(stride, "little"))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(bpp):
                line[i] = (line[i] + prev[i]) & 255
            for i in range(bpp, stride):
                a, b, c = line[i - bpp], prev[i], prev[i - bpp]
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - c - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        elif kind != 0:
            raise ValueError(f"{path}: filter {kind} on row {y}")
        rows.append(bytes(line) if bpp == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        prev = line
    return width, height, rows


def gif_lzw(indices: bytes) -> bytes:
    """LZW with 8-bit literals only: a clear code every 254 pixels keeps every code 9 bits wide."""
    out, acc, bits = bytearray(), 0, 0
    for start in range(0, len(indices), 254):
        for code in (256, *indices[start : start + 254]):
            acc |= code << bits
            bits += 9
            while bits >= 8:
                out.append(acc & 255)
                acc >>= 8
                bits -= 8
    acc |= 257 << bits  # end of information
    bits += 9
    while bits > 0:
        out.append(acc & 255)
        acc >>= 8
        bits -= 8
    blocks = bytearray()
    for start in range(0, len(out), 255):
        chunk = out[start : start + 255]
        blocks += bytes([len(chunk)]) + chunk
    return bytes(blocks + b"\0")


def write_band_gif(path: Path) -> None:
    """400×300, 3 frames: a 6×6×6-cube colour field with a white square that moves, the top fifth
    transparent in every frame. The first frame stays 20 s, so the page shows it."""
    width, height, transparent = 400, 300, 255
    palette = bytearray()
    for i in range(256):
        r, g, b = i // 36, i // 6 % 6, i % 6
        palette += bytes([r * 51, g * 51, b * 51]) if i < 216 else b"\0\0\0"
    gif = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + palette)
    gif += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame, delay_cs in enumerate((2000, 20, 20)):
        pixels = bytearray()
        for y in range(height):
            for x in range(width):
                if y < height // 5:
                    pixels.append(transparent)
                elif 120 <= y < 200 and 40 + 120 * frame <= x < 120 + 120 * frame:
                    pixels.append(215)  # white
                else:
                    r, g = 5 * x // (width - 1), 1 + 4 * y // (height - 1)
                    pixels.append(r * 36 + g * 6 + 2)
        # Graphic control: disposal 2 (restore to background), transparent index set.
        gif += b"\x21\xf9\x04" + bytes([(2 << 2) | 1]) + struct.pack("<H", delay_cs) + bytes([transparent, 0])
        gif += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x08" + gif_lzw(bytes(pixels))
    path.write_bytes(bytes(gif + b"\x3b"))


def write_alpha_png(path: Path) -> None:
    """800×600 photo-like RGBA: smooth gradients, a soft disc and a little deterministic grain
    (so PNG is not the smallest and AVIF and WebP are kept); alpha 0 left of x = 0.25, a ramp to
    255 at x = 0.6, opaque after."""
    width, height = 800, 600
    seed = 12345
    rows = []
    for y in range(height):
        row = bytearray()
        for x in range(width):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            grain = (seed >> 16) % 7 - 3
            dx, dy = (x - 560) / 180.0, (y - 260) / 180.0
            disc = max(0.0, 1.0 - (dx * dx + dy * dy)) ** 0.5
            r = 40 + 150 * y / height + 60 * disc
            g = 70 + 90 * x / width + 30 * disc
            b = 160 - 100 * y / height + 20 * disc
            fx = x / width
            alpha = 0 if fx < 0.25 else 255 if fx >= 0.6 else round(255 * (fx - 0.25) / 0.35)
            row += bytes([max(0, min(255, round(c) + grain)) for c in (r, g, b)] + [alpha])
        rows.append(bytes(row))
    write_png_rgba(path, width, height, rows)


# ---------------------------------------------------------------------------------------------
# Processing and the page


class Stack:
    """The template deployed on the emulator, the deployed build of the processor run on the
    uploads' jobs, and the local edge in front of the stack's buckets."""

    def __init__(self):
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL") or sys.exit(
            "browser-check: needs the emulator: scripts/with-emulator.sh .venv/bin/python scripts/browser-check.py")
        region = os.environ.get("AWS_REGION", "us-east-1")
        started = time.monotonic()
        self.description = RESULTS / "stack.json"
        self.d = deploy.deploy(self.endpoint, f"browser-check-{os.getpid()}", region, out=self.description,
                               parameters={"Variants": VARIANTS, "Faces": "on"})
        client = deploy.clients(self.endpoint, region)
        self.s3, self.sqs = client("s3"), client("sqs")
        self.region = region
        self.variants = self.d["outputs"]["VariantsBucketName"]
        log(f"stack {self.d['stack']['name']} deployed from infra/template.yaml in {time.monotonic() - started:.1f} s")
        self.edge = None
        self.edge_log = RESULTS / "edge.log"

    def process(self, inputs: list[Path]) -> dict[str, dict]:
        """Uploads the inputs, runs the processor's deployed build on the queued jobs in batches of
        the deployed mapping's size, and returns each input's manifest by name."""
        prefix = self.d["stack"]["parameters"]["InputPrefix"]
        for path in inputs:
            self.s3.put_object(Bucket=self.d["outputs"]["OriginalsBucketName"], Key=prefix + path.name,
                               Body=path.read_bytes())
        queue = self.d["queues"]["JobsQueue"]
        arn = queue["Attributes"]["QueueArn"]
        # The uploads' jobs (and the s3:TestEvent sent when the notification was configured).
        wanted, messages = {prefix + p.name for p in inputs}, []
        until = time.monotonic() + 30
        while time.monotonic() < until:
            messages += invoke.receive(self.sqs, queue["QueueUrl"], 10, wait_seconds=1)
            named = {key for _, key in invoke.s3_objects_named(invoke.sqs_event(messages, arn, self.region))}
            if wanted <= named:
                break
        else:
            sys.exit(f"browser-check: no job queued for {sorted(wanted - named)} within 30 s")
        mapping = next(m for m in self.d["event_source_mappings"].values() if m["EventSourceArn"] == arn)
        batch = int(mapping["BatchSize"])
        log(f"{len(messages)} jobs queued by the template's notification; the processor's deployed build "
            f"({BOOTSTRAP.relative_to(ROOT)}) runs them in batches of {batch} through cargo lambda's Runtime API")
        config = self.d["functions"]["ImageProcessorFunction"]
        os.environ["FFMPEG_PATH"] = FFMPEG  # for the layer's /opt/bin/ffmpeg: the same build, here
        with invoke.Runtime(BOOTSTRAP, config, self.endpoint, self.region, RESULTS / "processor.log") as runtime:
            for i in range(0, len(messages), batch):
                event = invoke.sqs_event(messages[i:i + batch], arn, self.region)
                response, error = runtime.invoke(json.dumps(event), timeout=600)
                if error or not isinstance(response, dict) or response.get("batchItemFailures"):
                    sys.stderr.write(runtime.log()[-4000:])
                    sys.exit(f"browser-check: the processor failed a batch: {error or response}")
        manifests = {}
        for path in inputs:
            body = self.s3.get_object(Bucket=self.variants, Key=f"{path.name}/manifest.json")["Body"].read()
            manifests[path.name] = json.loads(body)
        return manifests

    def download(self, key: str, out: Path) -> bytes:
        """An object of the variants bucket, also stored under out/ at its key."""
        data = self.s3.get_object(Bucket=self.variants, Key=key)["Body"].read()
        target = out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return data

    def start_edge(self) -> str:
        command = [sys.executable, "-m", "infra.emulator.edge", "serve", "--description", str(self.description)]
        with open(self.edge_log, "w") as edge_log:
            self.edge = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=edge_log, text=True,
                                         start_new_session=True)
        url = self.edge.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            sys.exit(f"browser-check: the local edge did not start ({url!r}); see {self.edge_log}")
        log(f"local edge: {url} (infra/emulator/edge: the template's behaviours and functions)")
        return url

    def edge_requests(self) -> list[tuple[str, int]]:
        """(path, status) of every request the edge logged."""
        seen = []
        for line in self.edge_log.read_text().splitlines():
            parts = line.split(" ")
            if len(parts) >= 3 and parts[0] in ("GET", "HEAD") and parts[2].isdigit():
                seen.append((parts[1], int(parts[2])))
        return seen

    def close(self) -> None:
        if self.edge and self.edge.poll() is None:
            self.edge.terminate()
            self.edge.wait(10)


def fetch(url: str, accept: str | None):
    """(status, headers (case-insensitive), body)."""
    headers = {"Accept": accept} if accept else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def http_checks(stack: Stack, edge: str, name: str, variant: dict) -> list[tuple[str, str, bool, str]]:
    """The fallback URL at the edge: Chromium's Accept gets the .avif key (which holds the WebP's
    bytes when AVIF was not worth storing), no Accept the fallback, each with its object's bytes
    and Content-Type and `Vary: Accept`."""
    fallback = variant["formats"][-1]
    results = []
    for accept, ext, what in ((CHROME_ACCEPT, "avif", "Chromium's Accept"), (None, None, "no Accept")):
        key = fallback["key"].rsplit(".", 1)[0] + "." + ext if ext else fallback["key"]
        stored = stack.s3.get_object(Bucket=stack.variants, Key=key)
        expected_type, expected = stored["ContentType"], stored["Body"].read()
        status, headers, body = fetch(edge + url(fallback["key"]), accept)
        vary = headers.get("Vary") or ""
        ok = (status == 200 and headers.get("Content-Type") == expected_type and body == expected
              and "accept" in vary.lower())
        note = f"{key.rsplit('/', 1)[-1]}: " + ("its bytes" if body == expected else "bytes differ")
        results.append((f"{name}: fallback URL with {what}",
                        f"{status} {headers.get('Content-Type')}, Vary {vary or '-'}", ok, note))
    return results


def url(key: str) -> str:
    return "/" + urllib.parse.quote(key)


class Tile:
    def __init__(self, tid: str, label: str, kind: str, width: int, height: int, html_body: str, file: str = ""):
        self.id, self.label, self.kind, self.file = tid, label, kind, file
        self.width, self.height, self.body = width, height, html_body
        self.x = self.y = 0


def media_tiles(name: str, manifest: dict, edge: str) -> tuple[list[Tile], dict]:
    """The tiles of one original, and what the checks need to know about them: every URL goes
    through the edge but the fallback file's own tile, the bucket's bytes served here."""
    variants = {v["name"]: v for v in manifest["variants"]}
    # The alpha image keeps its original shape: its transparent and opaque regions are fractions
    # of the picture, and a 4:5 box around its focus cuts the transparent part away.
    preferred = ("tablet", "pc") if name == ALPHA_PNG else PREFERRED_VARIANTS
    chosen = next((variants[n] for n in preferred if n in variants and variants[n]["formats"]), None)
    if chosen is None:
        raise SystemExit(f"browser-check: {name}: no still variant in the manifest")
    width, height = chosen["width"], chosen["height"]
    tiles, info = [], {"name": name, "variant": chosen, "formats": [], "videos": [], "animation": None}
    fallback = chosen["formats"][-1]
    for fmt in chosen["formats"]:
        tid = f"{name}|{chosen['name']}|{fmt['format']}"
        src, where = (url(fmt["key"]), " (bucket)") if fmt is fallback else (edge + url(fmt["key"]), "")
        body = f'<img src="{src}" width="{width}" height="{height}" alt="">'
        tiles.append(Tile(tid, f"{name} {chosen['name']} {fmt['format']}{where}", "img", width, height, body, fmt["key"]))
        info["formats"].append((tid, fmt, fmt is fallback))
    info["fallback"] = f"{name}|{chosen['name']}|{fallback['format']}"
    info["skipped"] = chosen.get("skipped", [])

    # The one URL a page links, negotiated at the edge by Chromium's Accept.
    tid = f"{name}|negotiated"
    body = f'<img src="{edge + url(fallback["key"])}" width="{width}" height="{height}" alt="">'
    tiles.append(Tile(tid, f"{name} {chosen['name']}.{fallback['format']} via the edge", "img", width, height, body))
    info["negotiated"] = tid

    # The manifest's <picture>, in a frame as wide as the variant: `sizes="100vw"` then asks for it.
    # Its URLs are root-relative, as for a page on the distribution: the frame's base is the edge.
    frame_doc = (
        '<!doctype html><base href="%s/"><style>html,body{margin:0;background:#%02x%02x%02x;overflow:hidden}'
        "img{display:block;width:%dpx;height:%dpx}</style>%s" % (edge, *BG, width, height, manifest["picture"])
    )
    tid = f"{name}|picture"
    body = f'<iframe srcdoc="{html.escape(frame_doc, quote=True)}" width="{width}" height="{height}" scrolling="no"></iframe>'
    tiles.append(Tile(tid, f"{name} <picture>", "picture", width, height, body))
    info["picture"] = tid

    poster = variants.get("poster")
    if poster:
        poster_file = poster["formats"][-1]

        def poster_tile(w: int, h: int, file: dict = poster_file, what: str = "poster") -> str:
            """The poster (or a variant of it) at a given size (the video's, the animation's), once
            per size."""
            ptid = f"{name}|{what}@{w}x{h}"
            if not any(t.id == ptid for t in tiles):
                body = f'<img src="{edge + url(file["key"])}" width="{w}" height="{h}" alt="">'
                tiles.append(Tile(ptid, f"{name} {what} {file['format']}", "img", w, h, body, file["key"]))
            return ptid

        for video in (v for v in manifest["variants"] if any(f["format"] == "mp4" for f in v["formats"])):
            mp4 = next(f for f in video["formats"] if f["format"] == "mp4")
            vw, vh = video["width"], video["height"]
            tid = f"{name}|{video['name']}|mp4"
            body = (
                f'<video muted playsinline preload="auto" width="{vw}" height="{vh}">'
                f'<source src="{edge + url(mp4["key"])}" type="video/mp4"></video>'
            )
            tiles.append(Tile(tid, f"{name} {video['name']}.mp4 (first frame)", "video", vw, vh, body, mp4["key"]))
            # A shaped video (`video-mobile` of a `mobile:640:4x5`) is cropped to the box of the
            # poster's variant of that name: its first frame is compared with that variant.
            still = variants.get(video["name"].removeprefix("video-")) if video.get("crop") else None
            if still and still["formats"]:
                info["videos"].append((tid, poster_tile(vw, vh, still["formats"][-1], f"poster's {still['name']}"), mp4))
            else:
                info["videos"].append((tid, poster_tile(vw, vh), mp4))
        animation = variants.get("animation")
        if animation and animation["formats"]:
            webp = animation["formats"][0]
            aw, ah = animation["width"], animation["height"]
            tid = f"{name}|animation|webp"
            body = f'<img src="{edge + url(webp["key"])}" width="{aw}" height="{ah}" alt="">'
            tiles.append(Tile(tid, f"{name} animation.webp", "img", aw, ah, body, webp["key"]))
            info["animation"] = (tid, poster_tile(aw, ah))
        elif animation:
            info["animation_skipped"] = animation.get("skipped", [])
    return tiles, info


def lay_out(groups: list[list[Tile]]) -> tuple[int, int]:
    """Shelf layout: tiles left to right, wrapping at PAGE_WIDTH; each original starts a row."""
    y = GAP
    for tiles in groups:
        x, shelf = GAP, 0
        for tile in tiles:
            if x > GAP and x + tile.width + GAP > PAGE_WIDTH:
                x, y, shelf = GAP, y + shelf, 0
            tile.x, tile.y = x, y + LABEL
            x += tile.width + GAP
            shelf = max(shelf, LABEL + tile.height + GAP)
        y += shelf
    return PAGE_WIDTH, y


def page(groups: list[list[Tile]], width: int, height: int) -> str:
    parts = []
    for tile in (t for g in groups for t in g):
        style = f"left:{tile.x}px;top:{tile.y}px;width:{tile.width}px;height:{tile.height}px"
        body = tile.body.replace(">", f' class="tile" data-tile="{html.escape(tile.id)}" style="{style}">', 1)
        label = f'<div class="label" style="left:{tile.x}px;top:{tile.y - LABEL}px;width:{tile.width}px">'
        parts.append(label + html.escape(tile.label) + "</div>\n" + body)
    text = TEMPLATE.read_text()
    text = text.replace("__BG__", "#%02x%02x%02x" % BG).replace("__WIDTH__", str(width))
    return text.replace("__HEIGHT__", str(height)).replace("__TILES__", "\n".join(parts))


class Server:
    """Serves the output tree (keys at "/<key>") and the page's POST /__report."""

    def __init__(self, root: Path):
        self.reports: list[dict] = []
        self.requests: list[tuple[str, int]] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            extensions_map = {
                **http.server.SimpleHTTPRequestHandler.extensions_map,
                ".avif": "image/avif",
                ".webp": "image/webp",
                ".mp4": "video/mp4",
                ".html": "text/html; charset=utf-8",
            }

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    outer.reports.append(json.loads(body))
                except ValueError:
                    pass
                self.send_response(204)
                self.end_headers()

            def log_request(self, code="-", size="-"):
                try:
                    status = int(code)
                except (TypeError, ValueError):
                    status = 0
                outer.requests.append((self.path, status))

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------------------------
# Comparing tiles in the screenshot


class Shot:
    def __init__(self, path: Path):
        self.width, self.height, self.rows = read_png_rgb(path)

    def crop(self, tile: Tile, region=WHOLE) -> tuple[bytes, int]:
        x0 = tile.x + round(tile.width * region[0])
        x1 = tile.x + round(tile.width * region[2])
        y0 = tile.y + round(tile.height * region[1])
        y1 = tile.y + round(tile.height * region[3])
        if x1 > self.width or y1 > self.height:
            raise ValueError(f"{tile.id} lies outside the {self.width}×{self.height} screenshot")
        return b"".join(row[x0 * 3 : x1 * 3] for row in self.rows[y0:y1]), (x1 - x0) * (y1 - y0)


def mad(a: bytes, b: bytes) -> float:
    """The largest of the three per-channel mean absolute differences."""
    n = len(a) // 3
    return max(sum(map(abs, map(operator.sub, a[c::3], b[c::3]))) / n for c in range(3))


def mad_to(a: bytes, colour: tuple[int, int, int]) -> float:
    return mad(a, bytes(colour) * (len(a) // 3))


def mean_colour(a: bytes) -> str:
    n = len(a) // 3
    return "#%02x%02x%02x" % tuple(round(sum(a[c::3]) / n) for c in range(3))


class Checks:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []
        self.failed: list[str] = []
        self.passed = 0
        self.h264 = "unknown"

    def limit(self, name: str, value: float, op: str, bound: float, note: str = "") -> bool:
        ok = value < bound if op == "<" else value > bound
        self.record(name, f"{value:6.2f} {op} {bound:g}", ok, note)
        return ok

    def record(self, name: str, measured: str, ok: bool, note: str = "") -> None:
        self.rows.append((name, measured, "ok" if ok else "FAIL", note))
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)

    def note(self, name: str, text: str) -> None:
        self.rows.append((name, "", "note", text))

    def print(self) -> None:
        wide = max(len(r[0]) for r in self.rows)
        log(f"\n{'check':<{wide}}  {'measured':<18}  result  notes")
        for name, measured, result, note in self.rows:
            log(f"{name:<{wide}}  {measured:<18}  {result:<6}  {note}".rstrip())


def short(src: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlparse(src).path).lstrip("/") if src else "(none)"


def check_all(shot: Shot, infos: list[dict], tiles: dict[str, Tile], report: dict, checks: Checks) -> None:
    states = report.get("tiles", {}) if report else {}
    h264 = (report or {}).get("canPlay", {}).get("video/mp4; codecs=avc1.64001E", "")
    coverage = {"avif": 0, "webp": 0, "avif+alpha": 0, "webp+alpha": 0, "mp4": 0, "animated webp": 0}

    def renders(tid: str, what: str) -> bool:
        pixels, _ = shot.crop(tiles[tid])
        state = states.get(tid, {})
        note = f"{short(state.get('src', ''))}"
        if "width" in state and tiles[tid].kind != "video":
            note += f" {state.get('width')}×{state.get('height')} decode={state.get('decode')}"
        return checks.limit(f"{what}: not blank", mad_to(pixels, BG), ">", BLANK, note)

    def same(tid: str, ref: str, what: str, bound: float, region=WHOLE) -> bool:
        a, _ = shot.crop(tiles[tid], region)
        b, _ = shot.crop(tiles[ref], region)
        return checks.limit(what, mad(a, b), "<", bound)

    for info in infos:
        name, variant = info["name"], info["variant"]
        alpha = name == ALPHA_PNG
        opaque = ALPHA_OPAQUE if alpha else GIF_OPAQUE if name == BAND_GIF else WHOLE
        fallback = info["fallback"]
        stored = ", ".join(f[1]["format"] for f in info["formats"])
        skipped = "; ".join(f"{s['format']}: {s['reason']}" for s in info["skipped"])
        checks.note(f"{name} {variant['name']}", f"{variant['width']}×{variant['height']}, stored: {stored}" + (f"; skipped {skipped}" if skipped else ""))
        for tid, fmt, is_fallback in info["formats"]:
            label = f"{name} {variant['name']}.{fmt['format']}"
            if renders(tid, label) and not is_fallback:
                if same(tid, fallback, f"{label} vs fallback", SAME_IMAGE):
                    coverage[fmt["format"]] = coverage.get(fmt["format"], 0) + 1
                    if alpha:
                        coverage[fmt["format"] + "+alpha"] = coverage.get(fmt["format"] + "+alpha", 0) + 1
            if alpha:
                pixels, _ = shot.crop(tiles[tid], ALPHA_CLEAR)
                checks.limit(f"{label}: transparent area shows the page", mad_to(pixels, BG), "<", SAME_IMAGE, mean_colour(pixels))
        negotiated = info["negotiated"]
        if renders(negotiated, f"{name} fallback URL via the edge"):
            same(negotiated, fallback, f"{name} fallback URL via the edge vs fallback", SAME_IMAGE)
        pic = info["picture"]
        if renders(pic, f"{name} <picture>"):
            same(pic, fallback, f"{name} <picture> vs fallback" + (" (opaque part)" if opaque != WHOLE else ""), SAME_IMAGE, opaque)
        if alpha:
            pixels, _ = shot.crop(tiles[pic], ALPHA_CLEAR)
            shown = mean_colour(pixels)
            # The snippet puts no placeholder colour behind an image with transparency.
            checks.limit(f"{name} <picture>: transparent area shows the page", mad_to(pixels, BG), "<", SAME_IMAGE, shown)
        for vid, ptid, mp4 in info["videos"]:
            label = f"{name} {mp4['key'].rsplit('/', 1)[-1]}"
            state = states.get(vid, {})
            decoded = state.get("readyState", 0) >= 2 and state.get("width", 0) > 0
            detail = f"readyState={state.get('readyState')} {state.get('width')}×{state.get('height')} error={state.get('error')}"
            pixels, _ = shot.crop(tiles[vid])
            if not decoded and not h264:
                checks.record(f"{label}: decoded", "not decodable by this Chromium build", False, f"canPlayType(avc1)=''; {detail}")
                continue
            checks.record(f"{label}: decoded (JS)", f"readyState {state.get('readyState')}", decoded, detail)
            if checks.limit(f"{label}: first frame not blank", mad_to(pixels, BG), ">", BLANK):
                if same(vid, ptid, f"{label} first frame vs poster", VIDEO):
                    coverage["mp4"] += 1
                if name == BAND_GIF:
                    band, _ = shot.crop(tiles[vid], GIF_BAND)
                    checks.limit(f"{label}: transparent band flattened onto white", mad_to(band, WHITE), "<", VIDEO, mean_colour(band))
        if info["videos"]:
            ptid = info["videos"][0][1]
            renders(ptid, f"{name} poster")
            if name == BAND_GIF:
                band, _ = shot.crop(tiles[ptid], GIF_BAND)
                checks.limit(f"{name} poster: transparent band flattened onto white", mad_to(band, WHITE), "<", SAME_IMAGE, mean_colour(band))
        if info["animation"]:
            aid, ptid = info["animation"]
            label = f"{name} animation.webp"
            if renders(aid, label):
                region = GIF_OPAQUE if name == BAND_GIF else WHOLE
                if same(aid, ptid, f"{label} first frame vs poster (opaque part)", SAME_IMAGE, region):
                    coverage["animated webp"] += 1
                if name == BAND_GIF:
                    band, _ = shot.crop(tiles[aid], GIF_BAND)
                    checks.limit(f"{label}: transparent band shows the page", mad_to(band, BG), "<", SAME_IMAGE, mean_colour(band))
        elif name == BAND_GIF:
            reason = "; ".join(s["reason"] for s in info.get("animation_skipped", [])) or "no animation variant"
            checks.record(f"{name}: animation.webp made", "missing", False, reason)

    videos = [v for info in infos for v in info["videos"]]
    played = sum(1 for vid, _, _ in videos if states.get(vid, {}).get("readyState", 0) >= 2)
    if not h264:
        checks.h264 = f"NOT decodable by this Chromium build (canPlayType avc1 = ''; {played} of {len(videos)} videos loaded)"
    else:
        checks.h264 = f"canPlayType avc1 = {h264!r}; {played} of {len(videos)} videos decoded, {coverage['mp4']} matched their poster"

    # Every kind of file we make was on the page and matched: a silent skip must not pass.
    for kind, count in coverage.items():
        checks.record(f"coverage: {kind} checked", f"{count} tile(s)", count > 0)


# ---------------------------------------------------------------------------------------------


def check_screenshot(server, stack, shot_path: Path, width: int, height: int, infos, tiles, http):
    """Every check over one screenshot and the page's latest report: (checks, report, shot)."""
    missing = [(p, c) for p, c in server.requests if c >= 400 and not p.startswith("/favicon")]
    at_edge = stack.edge_requests()
    failed_at_edge = [(p, c) for p, c in at_edge if c >= 400 and not p.startswith("/favicon")]
    report = next((r for r in reversed(server.reports) if r.get("when") == "settled"), None) or (
        server.reports[-1] if server.reports else None
    )
    shot = Shot(shot_path)
    checks = Checks()
    checks.record("screenshot size", f"{shot.width}×{shot.height}", (shot.width, shot.height) == (width, height))
    checks.record("page reported from the browser", report.get("when", "?") if report else "no report", report is not None)
    checks.record("no failed requests", f"{len(missing)} failed", not missing, " ".join(f"{p} {c}" for p, c in missing))
    checks.record("no failed requests at the edge", f"{len(failed_at_edge)} of {len(at_edge)} failed",
                  bool(at_edge) and not failed_at_edge, " ".join(f"{p} {c}" for p, c in failed_at_edge))
    for name, measured, ok, note in http:
        checks.record(name, measured, ok, note)
    check_all(shot, infos, tiles, report, checks)
    return checks, report, shot


def main() -> int:
    started = time.monotonic()
    if not BOOTSTRAP.exists():
        sys.exit(f"browser-check: {BOOTSTRAP} is missing (build it with `make deployed-build`)")
    if not Path(FFMPEG).exists():
        sys.exit(f"browser-check: no ffmpeg at {FFMPEG} (make ffmpeg, or set FFMPEG_PATH)")
    chromium = ensure_chromium()
    version = chromium_version(chromium)
    log(f"chromium version: {version}")

    out = RESULTS / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    stack = Stack()
    try:
        with tempfile.TemporaryDirectory(prefix="browser-check-") as tmp:
            tmp = Path(tmp)
            inputs = [tmp / PHOTO, tmp / ALPHA_PNG, tmp / ANIMATED, tmp / BAND_GIF]
            shutil.copy(FIXTURES / "progressive.jpg", inputs[0])
            write_alpha_png(inputs[1])
            shutil.copy(FIXTURES / "animated.gif", inputs[2])
            write_band_gif(inputs[3])
            log(f"inputs: {', '.join(f'{p.name} ({p.stat().st_size} bytes)' for p in inputs)}")
            manifests = stack.process(inputs)
            edge = stack.start_edge()

            groups, infos, http = [], [], []
            for path in inputs:
                manifest = manifests[path.name]
                log(f"  {path.name}: {len(manifest['variants'])} variants")
                tiles, info = media_tiles(path.name, manifest, edge)
                info["placeholder"] = manifest.get("placeholder", {}).get("dominant_color")
                for tile in tiles:
                    if "(bucket)" in tile.label:
                        stack.download(tile.file, out)
                http.extend(http_checks(stack, edge, path.name, info["variant"]))
                groups.append(tiles)
                infos.append(info)
            width, height = lay_out(groups)
            (out / "index.html").write_text(page(groups, width, height))
            tiles = {t.id: t for g in groups for t in g}

            server = Server(out)
            shot_path = RESULTS / "screenshot.png"
            try:
                for attempt in (1, 2):
                    shot_path.unlink(missing_ok=True)
                    log(f"screenshot: {len(tiles)} tiles on a {width}×{height} page, http://127.0.0.1:{server.port}/index.html")
                    screenshot(chromium, f"http://127.0.0.1:{server.port}/index.html", shot_path, width, height, tmp / f"profile{attempt}")
                    time.sleep(0.2)  # a report posted just before exit
                    checks, report, shot = check_screenshot(server, stack, shot_path, width, height, infos, tiles, http)
                    # Headless Chromium now and then takes the picture before an iframe's image is
                    # painted (its decode had settled): a blank tile gets one more page load. A file
                    # that does not decode is blank both times and fails.
                    blank = [name for name in checks.failed if name.endswith(": not blank")]
                    if attempt == 1 and blank and len(blank) == len(checks.failed):
                        log(f"retrying once: blank in the first screenshot: {'; '.join(blank)}")
                        continue
                    break
            finally:
                server.close()
    finally:
        stack.close()

    log(f"page reports: {', '.join(r.get('when', '?') for r in server.reports) or 'none'}")
    if report:
        log(f"user agent: {report.get('userAgent')}")
        for codec, answer in report.get("canPlay", {}).items():
            log(f"canPlayType({codec}) = {answer!r}")
    checks.print()
    log(f"\nchromium: {version}")
    log(f"H.264 MP4: {checks.h264}")
    log(f"screenshot: {shot_path.relative_to(ROOT)} (page: {(out / 'index.html').relative_to(ROOT)}), {time.monotonic() - started:.1f} s")
    if checks.failed:
        log("failed: " + "; ".join(checks.failed))
    log(f"browser-check: {checks.passed} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
