#!/usr/bin/env python3
"""Writes tests/conformance/files/: the cases the third-party corpus lacks, each built byte by byte
for one rule (see README "What uploads are accepted"). Deterministic; the outputs are committed.

Python stdlib, plus ffmpeg (FFMPEG_PATH or the project's pinned one) for the animated WebPs and
the JPEGs the MPO and gain-map files are built from.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import gifkit as g  # noqa: E402

ROOT = HERE.parent.parent
OUT = HERE / "files"
FFMPEG = os.environ.get("FFMPEG_PATH") or str(ROOT / f".local/ffmpeg/{os.uname().machine}/bin/ffmpeg")

RGBW = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]


def checker(i: int, j: int) -> int:
    return (i // 4 + j // 4) % 2


def animation(frames: int = 3, size: int = 16, delay: int = 20) -> bytes:
    out = g.header(size, size, RGBW) + g.loop_forever()
    for k in range(frames):
        out += g.control(delay) + g.frame(0, 0, size, size, lambda i, j, k=k: (k + i // 4 + j // 4) % 3)
    return out


def gifs() -> dict[str, bytes]:
    solid = lambda index: (lambda i, j: index)  # noqa: E731
    return {
        # Bytes after the trailer (padding, appended data): ignored.
        "gif/trailing-garbage.gif": animation() + g.TRAILER + bytes(range(256)) * 4,
        # A 0x00 where the next block should start, with a frame after it: the image ends there
        # (3 frames play, as in Chromium and Firefox).
        "gif/stray-zero-before-last-frame.gif": animation() + b"\0" + g.control(20) + g.frame(0, 0, 16, 16, solid(3))
        + g.TRAILER,
        # No trailer, ends between blocks: every frame is complete.
        "gif/no-trailer.gif": animation(),
        # An extension label no spec defines, a comment and a plain-text block: not drawn.
        "gif/unknown-extensions.gif": g.header(16, 16, RGBW) + b"\x21\x99" + g.sub_blocks(b"vendor data")
        + b"\x21\xfe" + g.sub_blocks(b"a comment") + g.control(20) + g.frame(0, 0, 16, 16, checker)
        + b"\x21\x01" + g.sub_blocks(b"\x0c\x00" * 6 + b"plain text") + g.control(20)
        + g.frame(0, 0, 16, 16, solid(2)) + g.TRAILER,
        # Logical screen 8×8, first frame 16×12: the screen grows to 16×12.
        "gif/first-frame-past-screen.gif": g.header(8, 8, RGBW) + g.control(20) + g.frame(0, 0, 16, 12, checker)
        + g.control(20) + g.frame(0, 0, 16, 12, solid(2)) + g.TRAILER,
        # Later frames partly and wholly outside the screen: clipped, and the last one shows
        # nothing but keeps its 200 ms.
        "gif/later-frames-outside-screen.gif": g.header(16, 16, RGBW) + g.control(20)
        + g.frame(0, 0, 16, 16, checker) + g.control(20) + g.frame(8, 8, 16, 16, solid(2)) + g.control(20)
        + g.frame(20, 20, 4, 4, solid(1)) + g.TRAILER,
        # A first frame covering only the top-left quarter: the rest shows nothing until frame 2.
        "gif/first-frame-smaller-than-screen.gif": g.header(16, 16, RGBW) + g.control(20)
        + g.frame(0, 0, 8, 8, solid(1)) + g.control(20) + g.frame(0, 0, 16, 16, solid(2)) + g.TRAILER,
        # A 0×0 logical screen: the first frame sets the size.
        "gif/zero-size-screen.gif": g.header(0, 0, RGBW) + g.control(20) + g.frame(0, 0, 16, 16, checker)
        + g.control(20) + g.frame(0, 0, 16, 16, solid(2)) + g.TRAILER,
        # GIF87a with neither a global nor a local palette: drawn black.
        "gif/gif87a-without-palette.gif": g.header(16, 16, None, b"87a") + g.frame(0, 0, 16, 16, checker)
        + g.TRAILER,
        "gif/animation-without-palette.gif": g.header(16, 16, None) + g.control(20) + g.frame(0, 0, 16, 16, checker)
        + g.control(20) + g.frame(0, 0, 16, 16, solid(2)) + g.TRAILER,
        # Delays of 0 and 1 hundredths play as 100 ms: 4 frames, 400 ms.
        "gif/zero-and-one-delays.gif": g.header(16, 16, RGBW) + g.control(0) + g.frame(0, 0, 16, 16, checker)
        + g.control(1) + g.frame(0, 0, 16, 16, solid(1)) + g.control(0) + g.frame(0, 0, 16, 16, solid(2))
        + g.control(1) + g.frame(0, 0, 16, 16, solid(3)) + g.TRAILER,
        # Cut inside the second frame's image data (a truncated upload): refused.
        "gif/truncated-in-frame.gif": animation()[:-40],
    }


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rows(width: int, height: int, color) -> bytes:
    return b"".join(b"\0" + b"".join(bytes(color(x, y)) for x in range(width)) for y in range(height))


def png(width: int, height: int, idat: bytes, crc: int | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat, crc) + chunk(b"IEND", b"")


def apng(width: int, height: int, frames: list, delays: list[tuple[int, int]]) -> bytes:
    """An RGB APNG whose default image is its first frame."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    out = PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"acTL", struct.pack(">II", len(frames), 0))
    sequence = 0
    for index, (color, (num, den)) in enumerate(zip(frames, delays)):
        fctl = struct.pack(">IIIIIHHBB", sequence, width, height, 0, 0, num, den, 0, 0)
        out += chunk(b"fcTL", fctl)
        sequence += 1
        data = zlib.compress(rows(width, height, color), 9)
        if index == 0:
            out += chunk(b"IDAT", data)
        else:
            out += chunk(b"fdAT", struct.pack(">I", sequence) + data)
            sequence += 1
    return out + chunk(b"IEND", b"")


def pngs() -> dict[str, bytes]:
    gradient = lambda x, y: (x * 4 % 256, y * 4 % 256, 128)  # noqa: E731
    image = zlib.compress(rows(64, 64, gradient), 9)
    bad_adler = image[:-1] + bytes([image[-1] ^ 0xFF])
    red, green, blue = (lambda x, y: (255, 0, 0)), (lambda x, y: (0, 255, 0)), (lambda x, y: (0, 0, 255))
    return {
        # Image data complete, zlib checksum wrong: shown by browsers, accepted and logged.
        "png/wrong-zlib-checksum.png": png(64, 64, bad_adler),
        # A chunk CRC that does not match: damaged after saving, refused.
        "png/wrong-chunk-crc.png": png(64, 64, image, crc=0x12345678),
        # The zlib stream stops halfway (a broken stream): refused.
        "png/zlib-stream-cut-short.png": png(64, 64, image[: len(image) // 2]),
        # A complete zlib stream with half the rows: refused.
        "png/missing-rows.png": png(64, 64, zlib.compress(rows(64, 32, gradient), 9)),
        # APNG with delays of 0/100 and 1/100 s (10 ms): both play as 100 ms (300 ms in all).
        "apng/zero-and-ten-ms-delays.apng": apng(32, 32, [red, green, blue], [(0, 100), (1, 100), (0, 0)]),
        # The same content under a .png name: the content decides.
        "apng/animation-named-png.png": apng(32, 32, [red, green], [(50, 1000), (50, 1000)]),
        # acTL declares 2 frames, 3 are present: browsers play 2.
        "apng/more-frames-than-declared.apng": apng(32, 32, [red, green, blue], [(1, 10)] * 3).replace(
            chunk(b"acTL", struct.pack(">II", 3, 0)), chunk(b"acTL", struct.pack(">II", 2, 0))
        ),
    }


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True)


def webps(tmp: Path) -> dict[str, bytes]:
    source = "testsrc2=s=48x32:r=10:d=0.4"
    opaque, alpha = tmp / "opaque.webp", tmp / "alpha.webp"
    ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libwebp_anim", "-loop", "0", str(opaque))
    ffmpeg("-f", "lavfi", "-i", f"{source},format=rgba,colorchannelmixer=aa=0.5", "-c:v", "libwebp_anim",
           "-loop", "0", str(alpha))
    zero = bytearray(opaque.read_bytes())
    # Every ANMF frame's duration (24 bits at payload offset 12) set to 0: plays as 100 ms.
    at = 12
    while at + 8 <= len(zero):
        kind, size = zero[at:at + 4], struct.unpack("<I", zero[at + 4:at + 8])[0]
        if kind == b"ANMF":
            zero[at + 8 + 12:at + 8 + 15] = b"\0\0\0"
        at += 8 + size + (size & 1)
    return {
        "webp/animated.webp": opaque.read_bytes(),
        "webp/animated-with-alpha.webp": alpha.read_bytes(),
        "webp/animated-zero-durations.webp": bytes(zero),
    }


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpegs(tmp: Path) -> dict[str, bytes]:
    first, second = tmp / "first.jpg", tmp / "second.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", str(first))
    ffmpeg("-f", "lavfi", "-i", "color=gray:s=32x24", "-frames:v", "1", str(second))
    primary, gain = first.read_bytes(), second.read_bytes()
    app0_end = 4 + struct.unpack(">H", primary[4:6])[0]
    mpf = jpeg_segment(0xE2, b"MPF\0" + b"II*\0" + struct.pack("<I", 8) + b"\0" * 16)
    xmp = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0"/>'
        b"</rdf:RDF></x:xmpmeta>"))
    iso = jpeg_segment(0xE2, b"urn:iso:std:iso:ts:21496:-1\0" + b"\0\0\0\0")
    return {
        # A camera's multi-picture file: the first picture is the image.
        "jpeg/two-pictures.mpo": primary[:2] + mpf + primary[2:] + gain,
        # Ultra HDR: XMP gain-map metadata, MPF, the gain map appended as a second JPEG.
        "jpeg/ultra-hdr-gain-map.jpg": primary[:2] + xmp + mpf + primary[2:] + gain,
        # ISO 21496-1 gain-map metadata only.
        "jpeg/iso-gain-map.jpg": primary[:2] + iso + mpf + primary[2:] + gain,
        # Junk where a marker should be: libjpeg (every browser) skips it.
        "jpeg/junk-before-marker.jpg": primary[:app0_end] + b"junk" + primary[app0_end:],
        # A PNG named .jpg: the name contradicts the content, refused.
        "jpeg/png-named-jpg.jpg": png(8, 8, zlib.compress(rows(8, 8, lambda x, y: (0, 0, 0)))),
        # A file that is no image at all.
        "jpeg/text-named-jpg.jpg": b"<html>this is not an image</html>\n",
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = {**gifs(), **pngs(), **webps(Path(tmp)), **jpegs(Path(tmp))}
    for name, data in sorted(files.items()):
        path = OUT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} files to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
