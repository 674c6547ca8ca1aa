"""A stage sees only the config its key hashes; anything else is an error naming the stage and value.

Every stage run in the suite goes through the view (runner.run_stages), so a stage that reads an
unhashed value fails its own tests; these check the view itself.
"""

from __future__ import annotations

import pytest
import yaml

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.config.views import ConfigView, UndeclaredConfigRead
from tests.conftest import TINY_CONFIG


def _config() -> RunConfig:
    return RunConfig.model_validate(yaml.safe_load(yaml.safe_dump(TINY_CONFIG)))


def test_whole_sections_and_the_build_name_are_readable():
    config = _config()
    view = ConfigView(config, ("seed", "data", "student"), "distill")
    assert view.seed == config.seed and view.data is config.data and view.name == config.name
    assert view.student.model_copy(update={"steps": 3}).steps == 3  # a whole section is the real object


def test_other_sections_are_refused_with_the_stage_named():
    view = ConfigView(_config(), ("seed", "data", "student"), "distill")
    with pytest.raises(UndeclaredConfigRead, match="stage 'distill' read config export, which its cache key"):
        view.export


def test_a_dotted_value_opens_only_that_value_of_its_section():
    config = _config()
    view = ConfigView(config, ("data", "export.opset"), "evaluate")
    assert view.export.opset == config.export.opset
    with pytest.raises(UndeclaredConfigRead, match="read config export.formats"):
        view.export.formats
