"""A GPT's decode step compiled ahead of time (AOTInductor), built once per model shape.

Decoding one character runs ~60 small ops. Eagerly, each pays Python and dispatch: at
the seed shape a character took ~0.87 ms, of which the nine weight products were ~0.25
(bench/generate_speed.py, 2026-11-26). AOTInductor compiles the step into one native
function with the small ops fused: 2,600-2,700 chars/s against ~1,150 for the eager int8
step in the same script (2 threads, AVX-512 VM).

`DecodeStep` is the step as a function of fixed shapes: attention reads the cache's
whole block with the positions not yet written masked out, so one compiled function
serves every position. Weights are inputs, not constants, so one package serves every
checkpoint of a shape (a run's best.pt changes at every eval). A package is keyed by
the shape, the precision, the PyTorch version, the CPU's vector capability and the
source of the code it was traced from; it lives in data/decoders (core/paths.py data_dir)
and is built there by us: a package is native code, and we load none from elsewhere.

Compiling needs a C++ compiler and takes ~15-25 s on 2 cores, paid once per shape;
loading a built package takes ~20 ms.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.gpt import GPT, KVCache, Rotary
from charlm_tui.core.models.quant import decoder_for, resolve_precision
from charlm_tui.core.paths import data_dir

# What the compiled step is traced from: a change to any of these makes a new package.
SOURCES = ("compiled.py", "gpt.py", "quant.py")
SHAPE_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "bias")
STYLE_FIELDS = ("activation", "position")


def rotate(x: torch.Tensor, rotary: Rotary, pos: torch.Tensor) -> torch.Tensor:
    """Rotary positions for one position: x (n_head, head_size) at position `pos`."""
    a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = rotary.cos[pos], rotary.sin[pos]  # (1, head_size / 2)
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)


class DecodeStep(nn.Module):
    """GPT.step's maths with fixed shapes: (token, pos, keys, values) -> (logits, the
    new position's keys and values per layer), the cache left for the caller to write.

    keys/values: one (1, n_head, block_size, head_size) tensor per layer, valid before
    `pos`. `model` is a GPT or its int8 copy (core.models.quant): Linear layers are
    called by their forward, as in GPT.step."""

    def __init__(self, model: GPT) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        token: torch.Tensor,
        pos: torch.Tensor,
        keys: list[torch.Tensor],
        values: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m, cfg = self.model, self.model.config
        C, H, T = cfg.n_embd, cfg.n_head, cfg.block_size
        scale = (C // H) ** -0.5
        x = m.wte.weight[token]
        if m.wpe is not None:
            x = x + m.wpe.weight[pos]
        x = x[None]  # (1, C)
        written = torch.arange(T, device=x.device) < pos  # cached positions before this one
        new_k, new_v = [], []
        for i, block in enumerate(m.blocks):
            attn, mlp, ln_1, ln_2 = block.attn, block.mlp, block.ln_1, block.ln_2
            h = F.layer_norm(x, (C,), ln_1.weight, ln_1.bias, ln_1.eps)
            q, k, v = attn.c_attn.forward(h).view(3, H, C // H)
            if attn.rotary is not None:
                q, k = rotate(q, attn.rotary, pos), rotate(k, attn.rotary, pos)
            # Scores against the cached keys and against this position's own key: the
            # same keys SDPA sees in GPT.step once the cache holds this position.
            cached = (keys[i][0] @ q[:, :, None]).squeeze(-1) * scale  # (H, T)
            cached = cached.masked_fill(~written, float("-inf"))
            own = (q * k).sum(-1, keepdim=True) * scale  # (H, 1)
            w = torch.cat((cached, own), dim=-1).softmax(dim=-1)
            y = (w[:, None, :T] @ values[i][0]).squeeze(1) + w[:, T:] * v  # (H, head_size)
            x = x + attn.c_proj.forward(y.reshape(1, C))
            h = F.layer_norm(x, (C,), ln_2.weight, ln_2.bias, ln_2.eps)
            x = x + mlp.c_proj.forward(mlp.act.forward(mlp.c_fc.forward(h)))
            new_k.append(k)
            new_v.append(v)
        x = F.layer_norm(x, (C,), m.ln_f.weight, m.ln_f.bias, m.ln_f.eps)
        return m.lm_head.forward(x)[0], torch.stack(new_k), torch.stack(new_v)


def tensors_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer the step reads (rotary's real tables too, not its
    complex one): what the compiled step takes as inputs."""
    every = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {name: t for name, t in every.items() if not t.is_complex()}


class _Flat(nn.Module):
    """DecodeStep with every tensor a positional input: (token, pos, *keys, *values,
    *weights), weights in `names` order. It holds the step outside its own registry,
    so export sees no parameters of its own and keeps none as constants."""

    def __init__(self, step: DecodeStep, names: list[str]) -> None:
        super().__init__()
        self.parts: tuple[DecodeStep, list[str]] = (step, names)

    def forward(self, token: torch.Tensor, pos: torch.Tensor, *tensors: torch.Tensor) -> Any:
        step, names = self.parts
        n = step.model.config.n_layer
        keys, values, weights = tensors[:n], tensors[n : 2 * n], tensors[2 * n :]
        params = dict(zip(names, weights, strict=True))
        args = (token, pos, list(keys), list(values))
        return torch.func.functional_call(step, params, args)


class CompiledDecoder:
    """What `generate(decoder=...)` calls per character: step(token, cache) -> logits,
    through a built package, with the eager model's (or its int8 copy's) weights."""

    def __init__(self, run: Callable[[list[torch.Tensor]], list[torch.Tensor]], model: GPT):
        self.run = run  # flat inputs -> flat outputs (load_package)
        self.model = model
        self.weights = list(tensors_of(DecodeStep(model)).values())

    def step(self, token: int, cache: KVCache) -> torch.Tensor:
        pos, block = cache.length, self.model.config.block_size
        if pos >= block:  # as GPT.step says it
            raise ValueError(f"sequence of {pos + 1} exceeds block_size {block}")
        logits, new_k, new_v = self.run(
            [torch.tensor(token), torch.tensor(pos), *cache.k, *cache.v, *self.weights]
        )
        for i, (k, v) in enumerate(zip(cache.k, cache.v, strict=True)):
            k[0, :, pos] = new_k[i]
            v[0, :, pos] = new_v[i]
        cache.length += 1
        return logits


def package_name(model: GPT, precision: str) -> tuple[str, str]:
    """(what it computes, what built it): a package's file is decode-<what>-<built>.pt2.
    What: the shape, the precision and the CPU's vector capability (a package built
    with AVX-512 would crash a CPU without it). Built: the PyTorch version and the
    source it was traced from; a package of the same shape built otherwise is stale."""
    here = Path(__file__).resolve().parent
    what = {
        "shape": {f: getattr(model.config, f) for f in SHAPE_FIELDS + STYLE_FIELDS},
        "precision": precision,
        "cpu": torch.backends.cpu.get_cpu_capability(),
    }
    built = {
        "torch": torch.__version__,
        "source": [hashlib.sha256((here / f).read_bytes()).hexdigest() for f in SOURCES],
    }
    return _digest(what), _digest(built)


def _digest(what: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


def example_inputs(model: GPT) -> tuple[torch.Tensor, ...]:
    cache = model.new_cache()
    step = DecodeStep(model)
    return (
        torch.tensor(0),
        torch.tensor(0),
        *cache.k,
        *cache.v,
        *tensors_of(step).values(),
    )


def build_package(model: GPT, path: Path) -> None:
    """Trace DecodeStep with torch.export and compile it with AOTInductor into `path`
    (written beside it, then renamed: never half a package)."""
    step = DecodeStep(model).eval()
    names = list(tensors_of(step))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".charlm-{path.stem}-{os.getpid()}.tmp.pt2")
    try:
        # PyTorch's own deprecation notices from inside export are not the user's business.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            flat = _Flat(step, names)
            exported = torch.export.export(flat, example_inputs(model), strict=False)
            torch._inductor.aoti_compile_and_package(exported, package_path=str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_package(path: Path) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """The package's step as flat inputs -> flat outputs (the loader may consume the
    list: a new one each call).

    Straight from PyTorch's C++ loader where it has one: the public loader first
    imports inductor (1.3 s) and compiles ten probe programs to describe this CPU (2.3
    s), a check our key already makes (its "cpu" entry); and its __call__ re-parses the
    input and output specs and flattens ~50 tensors every call (140 us of a 360-us step
    at the seed shape)."""
    loader = getattr(getattr(torch._C, "_aoti", None), "AOTIModelPackageLoader", None)
    if loader is None:
        return torch._inductor.aoti_load_package(str(path)).loader.boxed_run
    # (path, model name, run single-threaded, runners, device index): the public loader's
    # values for a CPU package.
    return loader(str(path), "model", False, 1, -1).boxed_run


def compiled_decoder(
    model: nn.Module,
    decoder: nn.Module | None,
    precision: str,
    folder: Path,
    build: bool = True,
    note: Callable[[str], None] = lambda _: None,
) -> CompiledDecoder | None:
    """The compiled step for `model` decoding with `decoder` (its int8 copy, or None for
    its own fp32 weights), from `folder`; built there first when missing and `build`.
    None when `model` is not a GPT or missing and not `build`; CharLMError when
    building fails (no C++ compiler, say)."""
    if not isinstance(model, GPT):
        return None
    weights = decoder if decoder is not None else model
    assert isinstance(weights, GPT)
    what, built = package_name(weights, precision)
    path = folder / f"decode-{what}-{built}.pt2"
    if not path.is_file():
        if not build:
            return None
        note(f"compiling the decode step (once per model shape, ~20 s) into {folder}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CharLMError(f"--compile cannot write {folder}: {e.strerror}") from None
        try:
            build_package(weights, path)
            for stale in folder.glob(f"decode-{what}-*.pt2"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        except Exception as e:  # the compiler's failures come in many types
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise CharLMError(f"--compile failed (is a C++ compiler installed?): {first}") from None
    try:
        run = load_package(path)
    except Exception as e:
        raise CharLMError(f"cannot load the compiled decode step {path}: {e}") from None
    return CompiledDecoder(run, weights)


def make_decoder(
    model: nn.Module,
    precision: str,
    compiled: bool = False,
    device: str = "cpu",
    note: Callable[[str], None] = lambda _: None,
) -> nn.Module | CompiledDecoder | None:
    """What `generate(decoder=...)` should decode `model` with, for `sample`'s
    --precision and --compile: None (the model itself), its int8 copy, or the compiled
    step over either (built into data/decoders on first use of a shape)."""
    quantized = decoder_for(model, precision, device)
    if not compiled:
        return quantized
    if device != "cpu":
        raise CharLMError(f"--compile decodes on the CPU: leave it out with --device {device}")
    if not isinstance(model, GPT):
        name = getattr(getattr(model, "config", None), "model", type(model).__name__)
        raise CharLMError(f"--compile applies to gpt models: {name} decodes eagerly")
    folder = data_dir() / "decoders"
    return compiled_decoder(
        model, quantized, resolve_precision(model, precision), folder, note=note
    )
