"""Structured channel pruning with torch-pruning (DepGraph), and unstructured sparsity.

DepGraph finds every layer coupled to a channel (the residual adds, the depthwise conv that
shares the channel, the next layer's input), so removing a channel keeps the network valid;
nothing here walks the graph by hand. What stylectl adds: the YAML criteria, a MACs target
reached step by step, protected layers, and a per-layer sensitivity scan.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterator

import torch
from torch import nn

from stylectl.pipelines.config import PruneConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.cost import count_macs

EXAMPLE_SIZE = 64  # tracing size for DepGraph; channel structure does not depend on it
SCHEDULER_STEPS = 100  # granularity with which a MACs target is approached


def protected_convs(model: nn.Module, prefixes: list[str]) -> list[nn.Module]:
    """Convs whose output channels must stay: those under any of the configured name prefixes."""
    names = {name.split(".")[0] for name, _ in model.named_modules() if name}
    unknown = [prefix for prefix in prefixes if prefix.split(".")[0] not in names]
    if unknown:
        raise UserInputError(f"prune.ignore_layers: no student layer named {unknown} (layers: {sorted(names)})")
    return [module for name, module in model.named_modules()
            if isinstance(module, nn.Conv2d) and any(name == p or name.startswith(p + ".") for p in prefixes)]


def importance_of(settings: PruneConfig):
    """The torch-pruning importance criterion named in the YAML."""
    import torch_pruning as tp

    return {
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "l2": lambda: tp.importance.MagnitudeImportance(p=2),
        "bn_scale": tp.importance.BNScaleImportance,
        "taylor": tp.importance.TaylorImportance,
    }[settings.importance]()


def make_pruner(model: nn.Module, settings: PruneConfig):
    """A MetaPruner that removes up to `max_ratio` of each group's channels in small steps."""
    import torch_pruning as tp

    uses_macs = settings.target == "macs"
    return tp.pruner.MetaPruner(
        model, torch.rand(1, 3, EXAMPLE_SIZE, EXAMPLE_SIZE), importance=importance_of(settings),
        global_pruning=settings.allocation == "global",
        pruning_ratio=settings.max_layer_ratio if uses_macs else settings.ratio,
        max_pruning_ratio=settings.max_layer_ratio,
        iterative_steps=SCHEDULER_STEPS if uses_macs else settings.schedule_steps,
        ignored_layers=protected_convs(model, settings.ignore_layers), round_to=settings.round_to,
    )


def prune_steps(model: nn.Module, settings: PruneConfig, image_size: int,
                gradients: Callable[[], None]) -> Iterator[dict[str, float]]:
    """Prune in `schedule_steps` steps, yielding after each so the caller can fine-tune.

    A channel target removes `ratio * i / N` of the channels by step i; a MACs target prunes
    until the MACs are at most `1 - ratio * i / N` of the start. `gradients()` runs a backward
    pass first when the criterion (Taylor) needs one.
    """
    pruner = make_pruner(model, settings)
    base = count_macs(model, image_size)
    for step in range(1, settings.schedule_steps + 1):
        goal = base * (1 - settings.ratio * step / settings.schedule_steps)
        while True:
            if settings.importance == "taylor":
                gradients()
            if pruner.current_step >= pruner.iterative_steps:
                if settings.target == "macs":
                    raise UserInputError(
                        f"prune.ratio: cannot remove {settings.ratio:.0%} of the MACs with at most "
                        f"{settings.max_layer_ratio:.0%} of each layer's channels, {settings.ignore_layers} "
                        f"protected and counts kept multiples of {settings.round_to}; lower prune.ratio or "
                        "prune.round_to, or raise prune.max_layer_ratio")
                break
            pruner.step()
            if settings.target == "channels" or count_macs(model, image_size) <= goal:
                break
        yield {"step": step, "macs": count_macs(model, image_size)}


def sparsify(model: nn.Module, amount: float) -> float:
    """Zero the smallest `amount` of all conv weights (global magnitude); return the achieved sparsity.

    Zeros shrink a compressed file; dense runtimes still multiply by them, so this saves
    size, not time.
    """
    from torch.nn.utils import prune

    convs = [(module, "weight") for module in model.modules() if isinstance(module, nn.Conv2d)]
    prune.global_unstructured(convs, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in convs:
        prune.remove(module, name)
    total = sum(module.weight.numel() for module, _ in convs)
    zeros = sum(int((module.weight == 0).sum()) for module, _ in convs)
    return zeros / total


def prunable_layers(model: nn.Module, settings: PruneConfig) -> list[str]:
    """Names of the convs that root a prunable channel group (one per coupled set)."""
    import torch_pruning as tp

    graph = tp.DependencyGraph().build_dependency(model, torch.rand(1, 3, EXAMPLE_SIZE, EXAMPLE_SIZE))
    names = {module: name for name, module in model.named_modules()}
    protected = protected_convs(model, settings.ignore_layers)
    groups = graph.get_all_groups(ignored_layers=protected, root_module_types=[nn.Conv2d])
    return [names[group[0].dep.target.module] for group in groups]


def prune_one_layer(model: nn.Module, layer: str, ratio: float) -> nn.Module:
    """A copy of `model` with `ratio` of one layer's output channels (lowest L2 norm) removed."""
    import torch_pruning as tp

    pruned = copy.deepcopy(model).eval()
    conv = dict(pruned.named_modules())[layer]
    graph = tp.DependencyGraph().build_dependency(pruned, torch.rand(1, 3, EXAMPLE_SIZE, EXAMPLE_SIZE))
    count = min(int(conv.out_channels * ratio), conv.out_channels - 1)
    if count:
        norms = conv.weight.detach().flatten(1).norm(dim=1)
        graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=norms.argsort()[:count].tolist()).prune()
    return pruned
