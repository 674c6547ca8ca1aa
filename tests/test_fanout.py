"""The serial executor and the pieces of the Ray one that need no cluster: a failed build is a row
and the others still run, the stage lock's waiting, the table's reading of stage lines, task sizes."""

from __future__ import annotations

import io
import threading

import pytest
import yaml

from stylectl.pipelines import artifacts
from stylectl.pipelines.config import RunConfig
from tests.conftest import TINY_CONFIG


def _config(**changes) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data.update(changes)
    return RunConfig.model_validate(data)


def test_the_table_reads_the_runners_stage_lines():
    from stylectl.pipelines.fanout.table import stage_cell

    assert stage_cell("distill: done in 3.2s (/ck/tiny/distill/abc)") == ("distill", "done 3.2s")
    assert stage_cell("train-teacher: cached, skipped (/ck)") == ("train-teacher", "cached")
    assert stage_cell("prune: waiting for host pid 12, which is building it") == ("prune", "waiting")
    assert stage_cell("  resuming from /ck/x/last.ckpt") is None


def test_a_task_asks_for_the_devices_its_trainers_ask_for():
    pytest.importorskip("ray")
    from stylectl.pipelines.fanout.on_ray import resources

    assert resources(_config()) == {"num_cpus": 1, "num_gpus": 0}
    gpu = _config(student={**TINY_CONFIG["student"], "trainer": {"accelerator": "gpu", "devices": 2}})
    assert resources(gpu) == {"num_cpus": 1, "num_gpus": 2}


def test_a_second_holder_of_a_stage_key_waits_and_names_the_first(tmp_path):
    final = tmp_path / "distill" / "abc"
    waited, order = [], []
    with artifacts.stage_lock(final, waited.append):
        second = threading.Thread(target=lambda: _hold(final, waited, order))
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive()  # blocked on the first holder
        order.append("first done")
    second.join(timeout=5)
    assert order == ["first done", "second in"]
    assert waited and "pid" in waited[0]


def _hold(final, waited, order) -> None:
    with artifacts.stage_lock(final, waited.append):
        order.append("second in")


@pytest.mark.slow
def test_a_failed_build_is_a_row_and_the_others_still_run(tmp_path, cli):
    style = {"image": ["builtin:great_wave", "builtin:starry_night"], "size": 64}
    config_path = tmp_path / "two.yaml"
    config_path.write_text(yaml.safe_dump({**TINY_CONFIG, "name": "two", "style": style}))
    checkpoints = tmp_path / "ck"
    checkpoints.mkdir()
    (checkpoints / "two-great_wave").write_text("a file where the build folder goes")

    code, out, err = cli("train-teacher", config_path, "--checkpoints", checkpoints, "--plain")
    assert code == 2, err  # the only failure was bad input
    assert "build failed: two-great_wave: --checkpoints" in err
    assert "1 of 2 build(s) failed: two-great_wave" in err
    assert "two-starry_night" in out and "failed" in out
    assert list((checkpoints / "two-starry_night" / "train-teacher").glob(f"*/{artifacts.MANIFEST}"))
