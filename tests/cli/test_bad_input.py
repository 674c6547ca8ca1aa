"""Bad input: one clear line naming file, line and YAML path; exit code 2; no traceback."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import TINY_CONFIG


def _write(tmp_path, text: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def _with(section: str, key: str, value) -> str:
    config = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    config[section][key] = value
    return yaml.safe_dump(config, sort_keys=False)


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


CASES = [
    # id, config text (None: keep tiny), extra args, expected fragments of the error line
    ("unknown key", _with("teacher", "widht", 8), [], ["bad.yaml:{widht}", "teacher.widht", "did you mean 'width'"]),
    ("wrong type", _with("teacher", "steps", "many"), [], ["bad.yaml:{steps: many}", "teacher.steps", "integer"]),
    ("missing content folder", _with("data", "content", "/no/such/photos"), [],
     ["bad.yaml:{content:}", "data.content", "/no/such/photos", "does not exist"]),
    ("unknown builtin style", _with("style", "image", "builtin:great_wav"), [],
     ["bad.yaml:{image:}", "style.image", "unknown built-in 'builtin:great_wav'", "builtin:great_wave"]),
    ("missing style image", _with("style", "image", "nope.jpg"), [], ["style.image", "nope.jpg", "does not exist"]),
    ("bad value", _with("prune", "ratio", 1.5), [], ["prune.ratio", "less than 1"]),
    ("per-channel activations", _with("quantize", "schemes", [{"name": "a", "activation_granularity": "per_channel"}]),
     [], ["bad.yaml:{activation_granularity}", "quantize.schemes.0.activation_granularity",
          "per-channel activations are not supported"]),
    ("3-bit activations", _with("quantize", "schemes", [{"name": "a", "activation_bits": 3}]), [],
     ["quantize.schemes.0.activation_bits", "3-bit activations are not supported"]),
    ("5-bit weights", _with("quantize", "schemes", [{"name": "a", "weight_bits": 5}]), [],
     ["quantize.schemes.0.weight_bits", "5-bit weights are not supported"]),
    ("repeated scheme name", _with("quantize", "schemes", [{"name": "a"}, {"name": "a"}]), [],
     ["quantize.schemes", "repeated: a"]),
    ("unknown shipped scheme", _with("quantize", "ship", "int3"), [], ["quantize", "no scheme named 'int3'"]),
    ("invalid yaml", "name: [unclosed\n", [], ["bad.yaml:", "invalid YAML"]),
    ("not a mapping", "- a\n- b\n", [], ["bad.yaml", "mapping"]),
    ("missing name", "seed: 1\n", [], ["name", "required key is missing"]),
    ("override without value", None, ["--set", "teacher.steps"], ["--set teacher.steps", "KEY.PATH=VALUE"]),
    ("override wrong type", None, ["--set", "student.width=abc"], ["--set student.width=abc", "student.width"]),
    ("override unknown key", None, ["--set", "teacher.depth=3"], ["--set teacher.depth=3", "teacher.depth", "unknown key"]),
    ("override into a value", None, ["--set", "seed.x=1"], ["--set seed.x=1", "'seed' is a value"]),
    ("duplicate key", yaml.safe_dump(TINY_CONFIG, sort_keys=False) + "name: other\n", [],
     ["bad.yaml:", "name: duplicate key (also at line 1"]),
    ("negative seed", None, ["--set", "seed=-1"], ["--set seed=-1", "seed", "greater than or equal to 0"]),
    ("seed past 2**32", None, ["--set", f"seed={2**64}"], ["seed", "less than or equal to 4294967295"]),
    ("onnx teacher is a folder", None, ["--set", "teacher.onnx.path=."], ["teacher.onnx.path", "is a folder, not a file"]),
    ("boolean for a number", None, ["--set", "teacher.steps=true"], ["teacher.steps", "expected a number, not a boolean"]),
    ("style size past the bound", None, ["--set", "style.size=1000000"], ["style.size", "less than or equal to 4096"]),
    ("opset the exporter does not write", None, ["--set", "export.opset=99"], ["export.opset", "less than or equal to 24"]),
    ("augment scale reversed", None, ["--set", "student.augment.scale=[1.0, 0.5]"],
     ["student.augment.scale", "0 < min <= max <= 1"]),
    ("yaml alias", "name: &n tiny\nseed: 1\nother: *n\n", [], ["bad.yaml:3", "YAML alias *n is not allowed"]),
    ("billion laughs", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)), [],
     ["bad.yaml:2", "YAML alias *a is not allowed"]),
    ("infinite gate threshold", _with("evaluate", "gates", {"max_latency_ms": float("inf")}), [],
     ["bad.yaml:{max_latency_ms}", "evaluate.gates.max_latency_ms", "finite number (got inf)"]),
]


@pytest.mark.parametrize("text, extra, fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_config_is_one_clear_line(cli, tmp_path, text, extra, fragments):
    text = text if text is not None else yaml.safe_dump(TINY_CONFIG, sort_keys=False)
    path = _write(tmp_path, text)
    code, out, err = cli("validate", path, *extra)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for fragment in fragments:
        if "{" in fragment:  # "{needle}" -> the line number of the line holding needle
            prefix, needle = fragment.split("{")
            fragment = f"{prefix}{_line_of(text, needle.rstrip('}'))}"
        assert fragment in lines[0]


def test_missing_config_file(cli, tmp_path):
    code, _, err = cli("run", tmp_path / "absent.yaml")
    assert code == 2 and "absent.yaml: config file not found" in err


def test_unknown_stage_name(cli, tiny_config_path):
    code, _, err = cli("run", tiny_config_path, "--from", "distil")
    assert code == 2 and "--from distil: unknown stage" in err


def test_debug_shows_the_traceback(cli, tmp_path):
    path = _write(tmp_path, _with("teacher", "widht", 8))
    code, _, err = cli("--debug", "validate", path)
    assert code == 2 and "Traceback" in err


def test_valid_config_passes(cli, tiny_config_path):
    code, out, _ = cli("validate", tiny_config_path)
    assert code == 0 and "ok" in out


@pytest.mark.parametrize("args, fragment", [
    (["--force", "distil"], "--force distil: unknown stage (choose from train-teacher, distill"),
    (["--checkpoints", "{file}"], "cannot write build 'tiny' there (Not a directory)"),
])
def test_bad_run_options_are_one_clear_line(cli, tiny_config_path, tmp_path, args, fragment):
    afile = tmp_path / "not_a_folder"
    afile.write_text("")
    code, _, err = cli("run", tiny_config_path, *[arg.format(file=afile) for arg in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_gate_threshold_that_is_not_finite_stops_evaluate(cli, tiny_config_path, value):
    """Every comparison with NaN is false, so a NaN threshold would pass every file: evaluate refuses it
    as the config loads, before any stage runs."""
    override = f"evaluate.gates.min_psnr_vs_teacher={value}"
    code, _, err = cli("evaluate", tiny_config_path, "--set", override)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert f"--set {override}: evaluate.gates.min_psnr_vs_teacher: Input should be a finite number" in lines[0]


def test_a_style_image_that_is_not_an_image_fails_validation(cli, tiny_config_path, tmp_path):
    fake = tmp_path / "style.jpg"
    fake.write_text("not an image")
    code, _, err = cli("validate", tiny_config_path, "--set", f"style.image={fake}")
    assert code == 2
    assert "style.image" in err and "is not a readable image" in err and len(err.strip().splitlines()) == 1
