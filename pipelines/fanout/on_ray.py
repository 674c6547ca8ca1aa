"""Builds as Ray tasks: one task per build, sized by the config's trainer sections, retried by Ray
when its worker dies, all writing to one checkpoints folder the cluster shares.

A retried task continues where the dead one stopped: the stages it finished are in the cache,
and the stage it was training resumes from that stage's own checkpoint (the second start of a
build runs with --resume). Stages are content-addressed and built under a lock per key, so
builds that share a stage (the points of a sweep share their teacher) build it once.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

import ray

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.fanout.board import Board, BoardReporter
from stylectl.pipelines.fanout.build import Build, BuildResult, reason, run_build
from stylectl.pipelines.fanout.table import BuildTable
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.runner import Plan

# Retries after a worker or node dies. A build's own errors (bad input, a failed stage) are
# not retried: they are results, and would fail the same way again.
MAX_RETRIES = 2
GPU_ACCELERATORS = ("gpu", "cuda")


def resources(config: RunConfig) -> dict[str, float]:
    """What one build's task asks Ray for: the GPUs (or CPU processes) its trainers ask for.

    `accelerator: auto` asks for none: Ray hides the GPUs from a task that did not ask, so
    such a build trains on the CPU; say `accelerator: gpu` to get one.
    """
    trainers = (config.teacher.trainer, config.student.trainer)
    counts = [1 if trainer.devices == "auto" else trainer.devices for trainer in trainers]
    gpus = max((n for t, n in zip(trainers, counts) if t.accelerator in GPU_ACCELERATORS), default=0)
    cpus = max((n for t, n in zip(trainers, counts) if t.accelerator == "cpu"), default=1)
    return {"num_cpus": 1 if gpus else cpus, "num_gpus": gpus}


@ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)
def _build_task(build: Build, plan: Plan, checkpoints: Path, cwd: str, board) -> BuildResult:
    if os.path.isdir(cwd):  # relative paths in the config (photos, style image) mean the driver's folder
        os.chdir(cwd)
    attempt = ray.get(board.started.remote(build.label, f"{socket.gethostname()} pid {os.getpid()}"))
    if attempt > 1:  # the last attempt's worker died: continue its training stage from its checkpoint
        plan = dataclasses.replace(plan, resume=True)
    return run_build(build, plan, checkpoints, BoardReporter(board, build.label), shared_build=True,
                     attempts=attempt)


def run_on_ray(builds: list[Build], plan: Plan, checkpoints: Path, reporter: Reporter,
               address: str | None) -> list[BuildResult]:
    """Run every build as a task on the cluster at `address` (None: a local one started here, or
    the one this process is already connected to) and return their results in order."""
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        board = Board.remote()
        checkpoints = checkpoints.resolve()  # the workers' folder too: a shared path mounted alike
        pending = {_build_task.options(**resources(build.config)).remote(build, plan, checkpoints, os.getcwd(), board):
                   index for index, build in enumerate(builds)}
        results: dict[int, BuildResult] = {}
        with BuildTable([b.label for b in builds], [s.name for s in plan.stages], reporter) as table:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                table.apply(ray.get(board.drain.remote()))
                for ref in done:
                    index = pending.pop(ref)
                    results[index] = _result(ref, builds[index], board)
                    table.finish(results[index])
            table.apply(ray.get(board.drain.remote()))
        return [results[index] for index in range(len(builds))]
    finally:
        if started_here:
            ray.shutdown()


def _result(ref, build: Build, board) -> BuildResult:
    """The task's result, or a failed one when Ray gave up on it (its worker died every time)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as error:
        attempts = ray.get(board.attempts.remote()).get(build.label, 0)
        return BuildResult(build.label, error=f"the Ray task failed {attempts} time(s): {reason(error)}",
                           exit_code=1, attempts=attempts)
