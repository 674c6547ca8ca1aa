"""A minimal ICC v2 RGB display profile, written byte by byte for tests (no ICC file ships here).

`swapped_primaries()` declares the red and green primaries of sRGB exchanged: a photo tagged with
it is stored with red and green swapped, so a reader that honours the profile turns a stored
(200, 30, 30) into about (30, 200, 30) and one that ignores it does not -- a change nobody can miss.
"""

from __future__ import annotations

import struct

# sRGB's colorants adapted to the D50 connection space (ICC's own table, Bradford), and D50 itself.
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
D50 = (0.9642, 1.0, 0.8249)


def swapped_primaries() -> bytes:
    return rgb_profile(SRGB_GREEN, SRGB_RED, SRGB_BLUE, gamma=2.2, name="sRGB with red and green swapped")


def rgb_profile(red, green, blue, gamma: float, name: str) -> bytes:
    """A matrix/TRC profile: three colorants, one gamma for all channels, D50 white."""
    curve = _padded(b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)))
    tags = [(b"desc", _description(name)), (b"cprt", _padded(b"text" + bytes(4) + b"public domain\0")),
            (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(red)), (b"gXYZ", _xyz(green)), (b"bXYZ", _xyz(blue)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, body in tags:
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntr" + b"RGB " + b"XYZ "
              + bytes(12) + b"acsp" + bytes(4 + 4 + 4 + 4 + 8 + 4) + _fixed(D50) + bytes(4 + 16 + 28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _fixed(values) -> bytes:
    return b"".join(struct.pack(">i", round(value * 65536)) for value in values)


def _xyz(values) -> bytes:
    return b"XYZ " + bytes(4) + _fixed(values)


def _description(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return _padded(b"desc" + bytes(4) + struct.pack(">I", len(ascii_)) + ascii_ + bytes(4 + 4 + 2 + 1 + 67))


def _padded(body: bytes) -> bytes:
    return body + bytes(-len(body) % 4)
