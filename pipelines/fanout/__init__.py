"""Run many builds (the styles of a config, the points of a sweep): one after another here, or as
tasks on a Ray cluster that shares one checkpoints folder.

Every build goes through `runner.run_stages`, so the cache, the manifests and the locks are the
same whichever executor runs it. Ray is imported only when `--executor ray` asks for it.
"""

from __future__ import annotations

from pathlib import Path

from stylectl.pipelines.fanout.build import Build, BuildResult, run_build
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.runner import Plan

EXECUTORS = ("serial", "ray")


def run_builds(builds: list[Build], plan: Plan, checkpoints: Path, reporter: Reporter,
               executor: str = "serial", address: str | None = None) -> list[BuildResult]:
    """One result per build, in the order given. A failed build is a result, not an exception (when
    there are several), so the others still run and the summary lists every one."""
    if executor == "ray":
        from stylectl.pipelines.fanout.on_ray import run_on_ray

        return run_on_ray(builds, plan, checkpoints, reporter, address)
    if len(builds) == 1:  # one build fails as it always has: its own error, exit code and --debug traceback
        return [run_build(builds[0], plan, checkpoints, reporter, catch=False)]
    results = []
    for build in builds:
        reporter.line(f"build {build.label}")
        results.append(run_build(build, plan, checkpoints, reporter))
    return results
