"""Model artifacts without pickle: a JSON ``ModelSpec`` plus safetensors weights in one file.

The spec is read from the module's actual layer shapes, so a network whose channels were
pruned in place is saved with the shapes it has now and rebuilt exactly by the next stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from stylectl.pipelines.artifacts import write_atomic
from stylectl.pipelines.errors import StylectlError, UserInputError
from stylectl.pipelines.models.arbitrary import ArbitraryStylizer
from stylectl.pipelines.models.student import StudentNet, upgrade_legacy_context
from stylectl.pipelines.models.teacher import TransformerNet

ARCHITECTURES: dict[str, type[nn.Module]] = {"teacher": TransformerNet, "student": StudentNet,
                                             "arbitrary": ArbitraryStylizer}
SPEC_KEY = "stylectl_spec"


@dataclass(frozen=True)
class ModelSpec:
    """An architecture name and the JSON-serialisable kwargs of its constructor."""

    arch: str
    params: dict

    def to_json(self) -> str:
        return json.dumps({"arch": self.arch, "params": self.params}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserInputError(f"model spec is not valid JSON: {error}") from None
        if not isinstance(value, dict) or not isinstance(value.get("params"), dict):
            raise UserInputError(f"model spec must be an object with 'arch' and 'params', got: {text[:200]}")
        if value.get("arch") not in ARCHITECTURES:
            known = sorted(ARCHITECTURES)
            raise UserInputError(f"model spec names unknown architecture {value.get('arch')!r}; known: {known}")
        return cls(arch=value["arch"], params=value["params"])


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised module with the spec's architecture and shapes."""
    return ARCHITECTURES[spec.arch](**spec.params)


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec that rebuilds ``model`` with its current layer shapes."""
    for arch, cls in ARCHITECTURES.items():
        if type(model) is cls:
            return ModelSpec(arch=arch, params=model.spec_params())
    raise StylectlError(f"cannot describe a {type(model).__name__}: not one of {sorted(ARCHITECTURES)}")


def save_model(model: nn.Module, path: Path) -> None:
    """Write spec and weights to one safetensors file, atomically."""
    metadata = {SPEC_KEY: spec_of(model).to_json()}
    # safetensors refuses tensors that share storage (e.g. tied or sliced weights): store private copies.
    tensors = {
        name: tensor.detach().clone(memory_format=torch.contiguous_format)
        for name, tensor in model.state_dict().items()
    }
    write_atomic(Path(path), safetensors.torch.save(tensors, metadata=metadata))


def load_model(path: Path) -> nn.Module:
    """Rebuild the module a ``save_model`` file describes, with its weights, in eval mode."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            spec_json = (handle.metadata() or {}).get(SPEC_KEY)
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (OSError, SafetensorError) as error:
        raise UserInputError(f"{path}: cannot read model file ({error})") from None
    if spec_json is None:
        raise UserInputError(f"{path}: safetensors file has no '{SPEC_KEY}' metadata, so it is not a stylectl model")
    try:
        spec = ModelSpec.from_json(spec_json)
    except UserInputError as error:
        raise UserInputError(f"{path}: {error}") from None
    try:
        model = build_model(spec)
        if spec.arch == "student":
            tensors = upgrade_legacy_context(tensors)
        model.load_state_dict(tensors, strict=True)
    except (TypeError, ValueError, RuntimeError) as error:
        detail = " ".join(str(error).split())  # load_state_dict lists mismatches on several lines
        raise UserInputError(f"{path}: weights do not fit the model spec: {detail[:300]}") from None
    return model.eval()
