import pytest
import safetensors.torch
import torch
import torch_pruning as tp

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.spec import ModelSpec, build_model, load_model, save_model, spec_of
from stylectl.pipelines.models.student import StudentNet
from stylectl.pipelines.models.teacher import TransformerNet

TINY_STUDENT = {"stem": 8, "down": [8, 12], "block_mid": [16, 16], "up": [8, 8], "head": "conv", "kernel": 3,
                "dilation": 1, "low": [], "context": [], "skip": False}


def trained_student() -> StudentNet:
    """A student whose BatchNorm statistics are not the defaults, so a round trip must carry them."""
    torch.manual_seed(0)
    student = StudentNet(**TINY_STUDENT).train()
    with torch.no_grad():
        student(torch.rand(4, 3, 32, 32))
    return student.eval()


def tiny_teacher() -> TransformerNet:
    return TransformerNet(width=4, res_blocks=1, norm="instance").eval()


@pytest.mark.parametrize("make", [trained_student, tiny_teacher])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, make):
    model = make()
    save_model(model, tmp_path / "model.safetensors")
    loaded = load_model(tmp_path / "model.safetensors")
    x = torch.rand(1, 3, 32, 32)
    assert not loaded.training
    assert spec_of(loaded) == spec_of(model)
    assert torch.equal(loaded(x), model(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temp file left behind


def test_spec_json_round_trip():
    spec = spec_of(StudentNet(**TINY_STUDENT))
    assert spec == ModelSpec(arch="student", params=TINY_STUDENT)
    assert ModelSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "text, problem",
    [("{not json", "not valid JSON"), ('{"arch": "resnet", "params": {}}', "unknown architecture"), ("[]", "object")],
)
def test_bad_spec_json_is_a_user_error(text, problem):
    with pytest.raises(UserInputError, match=problem):
        ModelSpec.from_json(text)


@pytest.mark.parametrize(
    "layer, pruned",
    [
        ("blocks.0.expand.conv", {"block_mid": [14, 16]}),  # one block's hidden width
        ("stem.conv", {"stem": 6}),  # also shrinks down1's depthwise conv (its groups)
        ("down2.pointwise.conv", {"down": [8, 10]}),  # the residual width: every block's projection follows
    ],
)
def test_pruned_student_is_rebuilt_from_its_spec(tmp_path, layer, pruned):
    student = trained_student()
    x = torch.rand(1, 3, 32, 32)
    graph = tp.DependencyGraph().build_dependency(student, example_inputs=x)
    graph.get_pruning_group(student.get_submodule(layer), tp.prune_conv_out_channels, idxs=[0, 1]).prune()

    spec = spec_of(student)
    assert spec.params == {**TINY_STUDENT, **pruned}
    rebuilt = build_model(spec).eval()
    rebuilt.load_state_dict(student.state_dict(), strict=True)
    assert torch.equal(rebuilt(x), student(x))

    save_model(student, tmp_path / "pruned.safetensors")
    assert torch.equal(load_model(tmp_path / "pruned.safetensors")(x), student(x))


def test_corrupt_file_is_a_user_error_naming_it(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"this is not a safetensors file")
    with pytest.raises(UserInputError, match="broken.safetensors"):
        load_model(path)


def test_missing_file_is_a_user_error_naming_it(tmp_path):
    with pytest.raises(UserInputError, match="absent.safetensors"):
        load_model(tmp_path / "absent.safetensors")


def test_safetensors_without_spec_is_a_user_error(tmp_path):
    path = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(UserInputError, match="plain.safetensors.*stylectl_spec"):
        load_model(path)


def test_weights_that_do_not_fit_the_spec_are_a_user_error(tmp_path):
    path = tmp_path / "mismatch.safetensors"
    tensors = {k: v.contiguous() for k, v in TransformerNet(width=4, res_blocks=1).state_dict().items()}
    spec = ModelSpec(arch="teacher", params={"width": 8, "res_blocks": 1, "norm": "instance"})
    safetensors.torch.save_file(tensors, path, metadata={"stylectl_spec": spec.to_json()})
    with pytest.raises(UserInputError, match="mismatch.safetensors.*size mismatch"):
        load_model(path)


def test_context_student_saved_in_the_legacy_form_loads_as_the_same_function(tmp_path):
    """Files from before ``x * gain + shift`` stored ``scale = gain - 1`` under ``context.scale``."""
    torch.manual_seed(0)
    student = StudentNet(**{**TINY_STUDENT, "context": [4, 4]}).eval()
    for name, tensor in student.state_dict().items():
        if ".context." in name and tensor.is_floating_point():
            torch.nn.init.normal_(tensor, std=0.3)
    legacy = {}
    for name, tensor in student.state_dict().items():
        if ".context.gain." in name:
            name, tensor = name.replace(".context.gain.", ".context.scale."), tensor - 1 if name.endswith("bias") else tensor
        legacy[name] = tensor.contiguous()
    path = tmp_path / "legacy.safetensors"
    safetensors.torch.save_file(legacy, path, metadata={"stylectl_spec": spec_of(student).to_json()})
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(load_model(path)(image), student(image), atol=1e-6)
