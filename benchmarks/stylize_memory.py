"""Peak memory of `stylectl stylize` on large photos: 2, 8 and 24 megapixels, a 24 MP photo with
`--stroke-scale 4`, and a small PNG declaring 9000x9000 (refused from its header).

Each row is one `stylectl stylize` process with the shipped int8 TFLite file of the config's build
(built or reused first); its peak resident memory is the kernel's maximum RSS of that process
(os.wait4's rusage), so imports, the runtime, decoding, tiling and encoding all count. The photos
are a shipped 512x384 photo enlarged with Lanczos to each size and saved as JPEG (quality 95):
what matters here is the pixel count, not the detail.

Usage: .venv/bin/python benchmarks/stylize_memory.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS-stylize-memory.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image

from stylectl.pipelines.report.cells import machine

from results import built_chain, publish

HERE = Path(__file__).parent
PHOTO = HERE.parent / "pipelines" / "assets" / "photos" / "gcompris_brandenburg_gate.jpg"  # ships in the repo
SIZES = {"2 MP": (1732, 1155), "8 MP": (3464, 2309), "24 MP": (6000, 4000)}  # 3:2, as cameras shoot


def main() -> None:
    args, config, outcomes = built_chain(__doc__.splitlines()[0])
    export = outcomes["export"].folder
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for label, size in SIZES.items():
            photo = scratch / f"{label.replace(' ', '')}.jpg"
            with Image.open(PHOTO) as source:
                source.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(photo, quality=95)
            rows.append((f"{label} ({size[0]}x{size[1]})", "", *_stylize(photo, export, scratch / label)))
        rows.append((f"24 MP ({SIZES['24 MP'][0]}x{SIZES['24 MP'][1]})", "--stroke-scale 4",
                     *_stylize(scratch / "24MP.jpg", export, scratch / "scaled", "--stroke-scale", "4")))
        bomb = scratch / "declared.png"
        bomb.write_bytes(_declared_png(9000, 9000))
        rows.append((f"PNG declaring 9000x9000 ({bomb.stat().st_size} bytes)", "",
                     *_stylize(bomb, export, scratch / "bomb")))
    publish(_table(args, rows), HERE / "RESULTS-stylize-memory.md")


def _stylize(photo: Path, export: Path, out: Path, *extra: str) -> tuple[int, float, float]:
    """(exit code, peak RSS in MB, seconds) of one `stylectl stylize` process."""
    command = [str(Path(sys.executable).with_name("stylectl")), "stylize", str(photo), "--model", str(export),
               "--variant", "int8", "--format", "tflite", "-o", str(out), "--plain", *extra]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    message = process.stderr.read().decode().strip().splitlines()
    process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise SystemExit(f"{photo.name}: exit {code}: {message[-1:] or ''}")
    return code, usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def _declared_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring the size, then one tiny compressed row."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 7)) + chunk(b"IEND", b"")


def _machine() -> str:
    info = machine()
    return f"{info['cpu']}, {info['cores']} cores, Python {info['python']}"


def _table(args, rows) -> str:
    lines = [
        "# stylize: peak memory on large photos",
        "",
        f"Command: `.venv/bin/python benchmarks/stylize_memory.py --config {args.config}`",
        f"Machine: {_machine()}. One process per row, one run each.",
        "",
        "Model: the build's int8 TFLite file (fixed 256x256 input: a photo over 4 MP is streamed in rows of "
        "overlapping tiles, 8 tiles per runtime call). Peak memory is the process's maximum resident set "
        "(imports and runtime included).",
        "",
        "| photo | options | exit code | peak memory MB | seconds |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {photo} | {options or '-'} | {code} | {peak:.0f} | {seconds:.1f} |"
              for photo, options, code, peak, seconds in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
