"""Measuring a model's internals on one training step, for every model of the zoo.

    probe = Probe(model)
    with probe.recording():                 # forward hooks and a copy of the weights
        ... forward, backward ...
        probe.take_grads()                  # after backward, before clipping
        ... optimizer step ...
    layers, weights = probe.read()          # one read back from the device

Hooks exist only inside `recording()`: the other steps pay nothing. Through
`torch.compile` hooks added after compiling may not fire, so the trainer runs a
recording step on the eager model. What is measured per layer (core/internals/stats.py
names the saturation rules):

- gpt: the embedding's output; each block's MLP nonlinearity (GELU or ReLU²; relu rule);
  the final norm's output and the logits;
- mlp: the embedding's output; the hidden layer after its tanh (tanh rule); the logits;
- rnn: each layer's output h, tanh's output itself (tanh rule);
- gru, lstm: each layer's output h; the sigmoid gates, computed again from the layer's
  input and its outputs one position earlier (training starts each window from a zero
  state, so these are exactly the gates the fused kernel used; sigmoid rule);
- bigram: the table's rows read (the logits);
- any other model: every top-level layer's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.internals.stats import LayerStats, WeightStats
from charlm_tui.core.models.gpt import GPT
from charlm_tui.core.models.mlp import BengioMLP
from charlm_tui.core.models.recurrent import Recurrent

SATURATED = 0.97  # |tanh| above it, or a sigmoid gate within 0.03 of 0 or 1
TANH_EDGE = math.atanh(SATURATED)  # |x| beyond it: |tanh(x)| > SATURATED

# (the hooked module's inputs, its output) -> tensor([mean, std, saturated fraction])
Measure = Callable[[tuple[Any, ...], Any], torch.Tensor]


@dataclass(frozen=True)
class Target:
    """Where a layer's activation is read: a module whose forward a hook watches."""

    layer: str
    module: nn.Module
    what: str
    rule: str
    measure: Measure


def first(output: Any) -> torch.Tensor:
    """The tensor a module returns (an RNN returns (outputs, state))."""
    return output[0] if isinstance(output, tuple) else output


def moments(t: torch.Tensor, saturated: torch.Tensor | None = None) -> torch.Tensor:
    t = t.float()
    sat = saturated.float().mean() if saturated is not None else t.new_zeros(())
    return torch.stack((t.mean(), t.std(), sat))


def plain(_inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
    return moments(first(output))


def after_tanh(_inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
    """A layer whose output goes through torch.tanh outside any module (Bengio's MLP)."""
    pre = first(output).float()
    return moments(torch.tanh(pre), pre.abs() > TANH_EDGE)


def tanh_output(_inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
    h = first(output).float()
    return moments(h, h.abs() > SATURATED)


def relu_like(_inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
    y = first(output).float()
    return moments(y, y <= 0)


def gates_of(layer: nn.RNNBase) -> Measure:
    """The sigmoid gates of a one-layer GRU or LSTM, from its input and its outputs."""
    lstm = isinstance(layer, nn.LSTM)

    def measure(inputs: tuple[Any, ...], output: Any) -> torch.Tensor:
        x, h = inputs[0].float(), first(output).float()  # (B, T, C), (B, T, H)
        state = inputs[1] if len(inputs) > 1 else None
        h0 = state[0] if lstm and state is not None else state  # (1, B, H) or None
        start = h0.transpose(0, 1).float() if h0 is not None else h.new_zeros(h[:, :1].shape)
        before = torch.cat((start, h[:, :-1]), dim=1)  # h one position earlier
        pre = F.linear(x, layer.weight_ih_l0.float(), layer.bias_ih_l0.float()) + F.linear(
            before, layer.weight_hh_l0.float(), layer.bias_hh_l0.float()
        )
        H = h.shape[-1]
        # LSTM gates i, f, g, o: g is the tanh candidate; GRU r, z, n: n is.
        gates = torch.cat((pre[..., : 2 * H], pre[..., 3 * H :]), -1) if lstm else pre[..., : 2 * H]
        g = torch.sigmoid(gates)
        return moments(h, (g < 1 - SATURATED) | (g > SATURATED))

    return measure


def layers_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model summary's rows (core/models summarize): top-level layers, with the
    entries of a ModuleList (GPT's blocks, the recurrent layers) one by one."""
    rows = []
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleList):
            rows += [(f"{name}.{sub}", module) for sub, module in child.named_children()]
        else:
            rows.append((name, child))
    return rows


def targets(model: nn.Module) -> list[Target]:
    """Where each layer's activation is read, as the module docstring lists."""
    if isinstance(model, GPT):
        found = [Target("wte", model.wte, "output", "", plain)]
        found += [
            Target(f"blocks.{i}", block.mlp.act, "mlp.act", "relu", relu_like)
            for i, block in enumerate(model.blocks)
        ]
        return [
            *found,
            Target("ln_f", model.ln_f, "output", "", plain),
            Target("lm_head", model.lm_head, "logits", "", plain),
        ]
    if isinstance(model, BengioMLP):
        return [
            Target("wte", model.wte, "output", "", plain),
            Target("hidden", model.hidden, "tanh", "tanh", after_tanh),
            Target("head", model.head, "logits", "", plain),
        ]
    if isinstance(model, Recurrent):
        found = [Target("wte", model.wte, "output", "", plain)]
        for i, layer in enumerate(model.layers):
            if isinstance(layer, nn.RNN):
                found.append(Target(f"layers.{i}", layer, "h", "tanh", tanh_output))
            else:
                found.append(Target(f"layers.{i}", layer, "h", "sigmoid", gates_of(layer)))
        return [*found, Target("head", model.head, "logits", "", plain)]
    # The bigram's table, and any other model: each layer's output as it is.
    return [
        Target(name, module, "logits" if len(layers_of(model)) == 1 else "output", "", plain)
        for name, module in layers_of(model)
        if not isinstance(module, nn.Dropout)
    ]


class Probe:
    """Measures one model on the steps it is asked to (see the module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.targets = targets(model)
        owners = {id(m): name for name, layer in layers_of(model) for m in layer.modules()}
        self.params: list[tuple[str, str, nn.Parameter]] = []  # (name, layer, tensor)
        seen: set[int] = set()  # a tensor shared by two modules (tied weights) counts once
        for name, module in model.named_modules():
            layer = owners.get(id(module))
            for pname, p in module.named_parameters(prefix=name, recurse=False):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    self.params.append((pname, layer or pname.split(".")[0], p))
        by_target = {t.layer for t in self.targets}
        with_params = [layer for _, layer, _ in self.params]
        # The summary's order, then any layer only the parameters name.
        order = [n for n, _ in layers_of(model) if n in by_target or n in with_params]
        order += [n for n in dict.fromkeys(with_params) if n not in order]
        self.layers = order
        self.weights = [(n, layer, p) for n, layer, p in self.params if p.ndim >= 2]
        # Where each parameter's gradient norm goes: its layer's row, its matrix's row.
        slot = {name: k for k, name in enumerate(self.layers)}
        self._layer_of = [slot[layer] for _, layer, _ in self.params]
        where = {id(p): i for i, (_, _, p) in enumerate(self.params)}
        self._matrix_rows = [where[id(p)] for _, _, p in self.weights]
        self._acts: dict[str, torch.Tensor] = {}
        self._before: list[torch.Tensor] = []
        self._grads: tuple[torch.Tensor, torch.Tensor] | None = None

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Hooks on, the weights copied; hooks off however the step ends."""
        self._acts, self._grads = {}, None
        self._before = [p.detach().clone() for _, _, p in self.weights]
        handles = [t.module.register_forward_hook(self._hook(t)) for t in self.targets]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, target: Target) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def hook(_module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            with torch.no_grad():
                self._acts[target.layer] = target.measure(inputs, output)

        return hook

    def take_grads(self) -> None:
        """The gradients' norms, per layer and per weight matrix: after backward (and
        DDP's all-reduce), before clipping scales them."""
        with torch.no_grad():
            have = [(i, p.grad) for i, (_, _, p) in enumerate(self.params) if p.grad is not None]
            if not have:
                return
            device = have[0][1].device
            norms = torch.zeros(len(self.params), device=device)
            found = torch.stack(torch._foreach_norm([g for _, g in have])).float()
            norms[torch.tensor([i for i, _ in have], device=device)] = found
            index = torch.tensor(self._layer_of, device=device)
            per_layer = torch.zeros(len(self.layers), device=device)
            per_layer.index_add_(0, index, norms.square())
            rows = torch.tensor(self._matrix_rows, device=device, dtype=torch.long)
            self._grads = (per_layer.sqrt(), norms[rows])

    def read(self) -> tuple[tuple[LayerStats, ...], tuple[WeightStats, ...]]:
        """This step's rows, read back from the device in one transfer (after the
        optimizer step: the ratios compare the weights with their copies)."""
        with torch.no_grad():
            ratios = [
                torch.log10((p.detach().float() - b.float()).std() / b.float().std())
                for (_, _, p), b in zip(self.weights, self._before, strict=True)
            ]
        self._before = []
        seen = [name for name in self.layers if name in self._acts]
        rules = {t.layer: t for t in self.targets}
        L, W = len(self.layers), len(self.weights)
        device = self.params[0][2].device if self.params else torch.device("cpu")
        nan = math.nan
        grads = self._grads or (
            torch.full((L,), nan, device=device),
            torch.full((W,), nan, device=device),
        )
        parts = [*(self._acts[name] for name in seen), *grads, *(r.reshape(1) for r in ratios)]
        # One transfer: on a GPU each read back waits for the device.
        values = torch.cat([t.float().flatten() for t in parts]).cpu().tolist()
        acts = {name: values[3 * k : 3 * k + 3] for k, name in enumerate(seen)}
        rest = values[3 * len(seen) :]
        layer_norms, weight_norms, ratio_values = rest[:L], rest[L : L + W], rest[L + W :]
        layers = []
        for k, name in enumerate(self.layers):
            t = rules.get(name)
            got = acts.get(name)
            rule = t.rule if t is not None and got is not None else ""
            layers.append(
                LayerStats(
                    name=name,
                    what=t.what if t is not None and got is not None else "",
                    mean=got[0] if got is not None else None,
                    std=got[1] if got is not None else None,
                    rule=rule,
                    saturated=got[2] if got is not None and rule else None,
                    grad_norm=layer_norms[k],
                )
            )
        weights = tuple(
            WeightStats(name, layer, weight_norms[k], ratio_values[k])
            for k, (name, layer, _) in enumerate(self.weights)
        )
        self._acts, self._grads = {}, None
        return tuple(layers), weights
