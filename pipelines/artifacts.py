"""Content-addressed stage outputs: cache keys, manifests, atomic writes and locks.

A stage's output folder is `checkpoints/<build>/<stage>/<key>/`. The key hashes what the
stage's output depends on; the manifest (written last) lists every output file with its
sha256, so a folder without a manifest that verifies is never taken for a finished one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from stylectl.pipelines.errors import StylectlError, UserInputError

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1
# Bump when the code changes what every stage writes, so old cache entries stop matching.
CACHE_FORMAT = 2
# Bump one stage's revision when only its code changes what it writes: later stages follow
# (their inputs' digests change) while earlier, costly ones (training) stay cached.
# export 1: int8 TFLite residual adds quantized (they were float before).
# evaluate 1: rows carry gram_vs_teacher.
# quantize 1: global context computes x * gain + shift (one full-size add fewer); export and
#   evaluate follow through the quantize outputs' digests.
# quantize 2: the artifact holds its shipped scheme and its calibration crops (export reads them).
# evaluate 2: every runtime timed across one boundary (NumPy in, NumPy out: LiteRT's timing now
#   includes set_tensor and get_tensor); report.json's settings say so (latency_boundary).
# quantize 3: every op int8 in the schemes' simulations (quant/full_integer.py), not only the x86 quantizer's.
# export 2: ONNX files go through the QNN HTP compile check; the pre-flight gives a verdict per file and target.
# evaluate 3: the reports show those verdicts, and flicker (warping error on pan/zoom clips of the held-out photos).
# quantize 4: global average pools quantized on their own scale (quant/pooled_scale.py), in the simulations
#   and in the .pte and .tflite quantizers; export and evaluate follow through the quantize outputs' digests.
# quantize 5, export 3: ONNX files (the exported ones, and the quantize stage's ORT reference and
#   comparisons) write spatial means as GlobalAveragePool, not ReduceMean (models/to_onnx.py).
# distill 1: the temporal-consistency term's target (the output on the crop, moved) gets no gradient.
STAGE_REVISIONS = {"distill": 1, "quantize": 5, "export": 3, "evaluate": 3}
TMP_PREFIX = ".tmp-"
RESUME_PREFIX = ".resume-"
LOCK_PREFIX = ".lock-"


def tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a Core ML .mlpackage is a folder)."""
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_key(stage: str, config: dict, inputs: dict[str, str], fingerprints: dict[str, str]) -> str:
    """The cache key: stage name, its config sections, its inputs' digests, its data's bytes."""
    payload = {"stage": stage, "format": CACHE_FORMAT, "config": config, "inputs": inputs, "files": fingerprints}
    if stage in STAGE_REVISIONS:
        payload["revision"] = STAGE_REVISIONS[stage]
    return sha256_bytes(canonical_json(payload).encode())[:16]


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode())


def hash_outputs(folder: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of every file under a stage folder except its manifest."""
    outputs = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative != MANIFEST:
            outputs[relative] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return outputs


RECORD_FOLDERS = ("logs/", "val/")


def outputs_digest(outputs: dict[str, dict[str, Any]]) -> str:
    """One digest for a stage's outputs: what downstream cache keys hash.

    Training logs and validation grids record how a stage ran, not what it made (TensorBoard
    names its event file after the time and pid), so they are left out: a forced re-run that
    produces the same model must not invalidate every later stage. They are still verified.
    """
    produced = {name: entry["sha256"] for name, entry in outputs.items() if not name.startswith(RECORD_FOLDERS)}
    return sha256_bytes(canonical_json(produced).encode())


@dataclass(frozen=True)
class Artifact:
    """A finished, verified stage output handed to the stages that depend on it."""

    stage: str
    key: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def digest(self) -> str:
        return self.manifest["digest"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest["metrics"]

    def path(self, name: str) -> Path:
        """Path of one of the artifact's files or folder packages (a Core ML .mlpackage); a missing
        one is a broken cache entry."""
        path = self.folder / name
        if not path.exists():
            raise StylectlError(f"{self.folder}: stage output '{name}' is missing")
        return path


def load_verified(folder: Path, stage: str, key: str) -> Artifact | None:
    """The artifact in `folder` if its manifest exists and every listed file still matches."""
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("schema") != MANIFEST_SCHEMA or manifest.get("key") != key:
        return None
    if hash_outputs(folder) != manifest.get("outputs"):
        return None
    return Artifact(stage, key, folder, manifest)


def publish(tmp_folder: Path, final_folder: Path) -> None:
    """Move a finished temp folder into place; a stale, unverified folder there is replaced."""
    if final_folder.exists():
        shutil.rmtree(final_folder)
    os.replace(tmp_folder, final_folder)


@contextmanager
def build_lock(build_folder: Path, shared: bool = False) -> Iterator[None]:
    """Hold a lock on a build; a run that cannot have it fails at once.

    The lock is exclusive for a run on its own. `shared` is for the builds of one fan-out
    (the points of a sweep share a build folder): they run side by side, kept apart by
    `stage_lock`, while a run on its own still refuses to start beside them. Temp folders left
    by a crashed run are removed only under the exclusive lock (nobody else can be writing them
    then). The kernel drops an flock when its holder dies, so a killed run never leaves it held.
    """
    try:
        build_folder.mkdir(parents=True, exist_ok=True)
        lock_path = build_folder / ".lock"
        lock_path.touch()
    except OSError as error:  # --checkpoints is a file, or a folder this user cannot write
        raise UserInputError(f"--checkpoints {build_folder.parent}: cannot write build '{build_folder.name}' there "
                             f"({error.strerror})") from None
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StylectlError(
                f"build '{build_folder.name}' is being written by another stylectl run (lock: {lock_path})"
            ) from None
        if not shared:
            for stale in build_folder.glob(f"*/{TMP_PREFIX}*"):
                shutil.rmtree(stale, ignore_errors=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def stage_lock(final_folder: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the lock of one stage key while building it; wait while another process holds it.

    Two builds that need the same key (the points of a sweep share their teacher) then build it
    once: the second waits, and finds the first one's output when it gets the lock. The lock file
    names its holder (host and pid) for the waiting message. An flock dies with its holder, so a
    killed builder's key is free again at once (on NFS, once the server notices; see
    docs/scaling-out.md).
    """
    lock_path = final_folder.parent / f"{LOCK_PREFIX}{final_folder.name}"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            on_wait(handle.read().strip() or "another process")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(0)
        handle.write(f"{socket.gethostname()} pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
