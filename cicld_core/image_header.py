"""The pixel size of a PNG or JPEG, read from its header without decoding it.

A few hundred kilobytes of PNG can hold a 24000x24000 image that takes seconds and
gigabytes to decode; reading the size first lets a caller refuse it for the cost of a
few bytes. PNG keeps the size in the IHDR chunk that must come first; JPEG keeps it in
the first start-of-frame (SOFn) segment, found by walking the segment lengths.
"""
from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF0..SOF15 hold the frame size, except DHT (C4), JPG (C8) and DAC (CC)
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers that stand alone, with no length field: TEM and RST0..7
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def encoded_image_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, or None when ``data`` is neither or its
    header is cut short (the decoder then gives the definitive answer)."""
    data = memoryview(data)
    if bytes(data[:8]) == PNG_SIGNATURE:
        if len(data) < 24 or bytes(data[12:16]) != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if bytes(data[:2]) == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: memoryview) -> tuple[int, int] | None:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in JPEG_STANDALONE:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if marker in JPEG_SOF:
            if position + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        if marker == 0xDA or length < 2:  # scan data starts before any frame header: malformed
            return None
        position += 2 + length
    return None
