"""Small GIF writer for the conformance corpus: lets a test build exactly the block structure a
quirk needs (no palette, frames past the screen, stray bytes), with pixel data a browser decodes."""

from __future__ import annotations

import struct


def lzw(indices: list[int], min_code_size: int) -> bytes:
    """LZW data that never grows its code size: a clear code before the table would grow."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    width = min_code_size + 1
    codes, since_clear = [clear], 0
    for index in indices:
        # Each literal after the first adds a table entry; clear before the decoder would widen
        # its codes (at entry 1 << width).
        if since_clear == (1 << width) - (clear + 2):
            codes.append(clear)
            since_clear = 0
        codes.append(index)
        since_clear += 1
    codes.append(end)
    out, acc, bits = bytearray(), 0, 0
    for code in codes:
        acc |= code << bits
        bits += width
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)


def sub_blocks(data: bytes) -> bytes:
    out = bytearray()
    for start in range(0, len(data), 255):
        chunk = data[start : start + 255]
        out += bytes([len(chunk)]) + chunk
    return bytes(out) + b"\0"


def palette(colors: list[tuple[int, int, int]], size_bits: int) -> bytes:
    entries = list(colors) + [(0, 0, 0)] * ((1 << size_bits) - len(colors))
    return b"".join(bytes(c) for c in entries[: 1 << size_bits])


def header(width: int, height: int, global_colors=None, version: bytes = b"89a") -> bytes:
    packed = 0
    table = b""
    if global_colors is not None:
        packed = 0x80 | 0x70 | 1  # 4-entry table
        table = palette(global_colors, 2)
    return b"GIF" + version + struct.pack("<HHBBB", width, height, packed, 0, 0) + table


def loop_forever() -> bytes:
    return b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"


def control(delay_cs: int, transparent: int | None = None, disposal: int = 0) -> bytes:
    packed = (disposal << 2) | (1 if transparent is not None else 0)
    return b"\x21\xf9\x04" + struct.pack("<BHB", packed, delay_cs, transparent or 0) + b"\0"


def frame(x: int, y: int, w: int, h: int, index_of, local_colors=None) -> bytes:
    """A frame whose pixel (i, j) has palette index index_of(i, j)."""
    packed, table = 0, b""
    if local_colors is not None:
        packed = 0x80 | 1
        table = palette(local_colors, 2)
    indices = [index_of(i, j) for j in range(h) for i in range(w)]
    return (
        b"\x2c"
        + struct.pack("<HHHHB", x, y, w, h, packed)
        + table
        + b"\x02"
        + sub_blocks(lzw(indices, 2))
    )


TRAILER = b"\x3b"
