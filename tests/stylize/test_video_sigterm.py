"""SIGTERM while a video is being written (a scheduler stopping the job) leaves no temp file: a real
process stylizes a long clip through a slow fake model, is sent SIGTERM once its temp file exists, and
exits 143 with nothing in its output folder."""

from __future__ import annotations

import signal
import subprocess
import sys

import numpy as np

from stylectl.pipelines.artifacts import TMP_PREFIX
from tests.stylize.test_video_inputs import _video

FRAMES = 200

SCRIPT = """
import sys, time
from pathlib import Path
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.stylize.video import stylize_video

def slow(frames):  # 200 frames at 50 ms: 10 s, long past the SIGTERM
    for frame in frames:
        time.sleep(0.05)
        yield frame, 255 - frame

try:
    stylize_video(Path(sys.argv[1]), Path(sys.argv[2]), slow, None, lambda: print("frame", flush=True))
except StylectlError as error:
    print(error, file=sys.stderr)
    sys.exit(error.exit_code)
"""


def test_sigterm_during_a_video_removes_the_temp_file(tmp_path):
    pictures = [np.random.default_rng(index).integers(0, 256, (32, 32, 3), dtype=np.uint8) for index in range(FRAMES)]
    _video(tmp_path / "long.mp4", pictures, list(range(FRAMES)))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, tmp_path / "long.mp4", out / "long.mp4"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while process.stdout.readline() == "frame\n" and not _temp_files(out):
            pass  # the encoder holds its first frames back (lookahead): the file starts some frames in
        assert len(_temp_files(out)) == 1, process.stderr.read()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM" in err and list(out.iterdir()) == []


def _temp_files(folder) -> list:
    return [path for path in folder.glob("*") if path.name.startswith(TMP_PREFIX)]
