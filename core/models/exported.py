"""A model as a folder anyone can load without pickle: model.safetensors and model.json.

    <folder>/model.safetensors   the weights: names and shapes in a JSON header, then
                                 raw little-endian float32 data (safetensors.readthedocs.io)
    <folder>/model.json          the format tag, the configuration (config.json's model
                                 and train sections), the vocabulary as one string of
                                 characters in id order, the iteration, and each tensor's
                                 name, shape and dtype

`sample`, `eval`, `inspect` and the generate pane take the folder wherever they take a
checkpoint (checkpoint.py `load_model`); the JSON and the tensors' names and shapes are
checked against the model the configuration builds before any weight is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import (
    atomic_write_bytes,
    atomic_write_text,
    open_regular,
    read_capped,
)
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.values import is_int

FORMAT = "charlm-tui-safetensors/1"
WEIGHTS = "model.safetensors"
DESCRIPTION = "model.json"
FILES = (WEIGHTS, DESCRIPTION)
JSON_MAX_BYTES = 32 << 20  # a vocabulary of every Unicode character is ~4 MB of JSON
KEPT = ("iter", "best_val_loss", "metrics", "corpus")  # what the checkpoint says of itself


def is_exported(folder: Path) -> bool:
    """The folder holds an export (model.json), whatever else it holds."""
    return (folder / DESCRIPTION).is_file()


def export_model(ckpt: dict[str, Any], model: nn.Module, vocab: Vocab, out: Path) -> Path:
    """Write a checked checkpoint's model into `out` (made if missing): the weights, then
    model.json, each atomically, so a folder with model.json is a complete export."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    from safetensors.torch import save

    described = {
        "format": FORMAT,
        "config": ckpt["config"],
        "vocab": vocab.chars,
        **{k: ckpt[k] for k in KEPT if k in ckpt},
        "tensors": {k: {"shape": list(v.shape), "dtype": _dtype(v)} for k, v in tensors.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / WEIGHTS, save(tensors, metadata={"format": FORMAT}))
    text = json.dumps(described, indent=1, ensure_ascii=False, allow_nan=False)
    atomic_write_text(out / DESCRIPTION, text + "\n")
    return out


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _shape(entry: Any) -> tuple[int, ...] | None:
    """A tensor's shape as model.json lists it, or None when it is not a list of sizes."""
    shape = entry.get("shape") if isinstance(entry, dict) else None
    if not isinstance(shape, list) or not all(is_int(d) and d >= 0 for d in shape):
        return None
    return tuple(shape)


def _read_description(folder: Path) -> dict[str, Any]:
    path = folder / DESCRIPTION
    raw = read_capped(path, JSON_MAX_BYTES, "a model description")
    try:
        described = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise CharLMError(f"{path} is not UTF-8 JSON") from None
    if not isinstance(described, dict) or described.get("format") != FORMAT:
        raise CharLMError(f"{path} is not a charlm-tui export (no '{FORMAT}' format tag)")
    it = described.get("iter")
    if not is_int(it) or it < 0:
        raise CharLMError(f"{path}: iter must be a whole number >= 0, not {it!r}")
    if not isinstance(described.get("tensors"), dict):
        raise CharLMError(f"{path}: no tensors listed")
    return described


def load_exported(folder: Path) -> tuple[nn.Module, Vocab, dict[str, Any]]:
    """The model an export describes, with its vocabulary and a checkpoint-like dict
    (config, vocab, iter, ...): the JSON checked, then the safetensors header against the
    model the config builds, then the weights read and checked as a checkpoint's are."""
    from safetensors import SafetensorError, safe_open

    from charlm_tui.core.models.checkpoint import FORMAT as CHECKPOINT_FORMAT
    from charlm_tui.core.models.checkpoint import restore_model

    described = _read_description(folder)
    where = str(folder / DESCRIPTION)
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "config": described.get("config"),
        "vocab": described.get("vocab"),
        **{k: described[k] for k in KEPT if k in described},
    }
    weights = folder / WEIGHTS
    try:
        with open_regular(weights):  # a FIFO or a folder is refused before safetensors opens it
            pass
        with safe_open(str(weights), framework="pt") as f:
            header = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                      for k in f.keys()}  # noqa: SIM118  # fmt: skip
            listed = {k: _shape(v) for k, v in described["tensors"].items()}
            if set(listed) != set(header) or any(listed[k] != header[k][0] for k in header):
                raise CharLMError(f"{weights} does not hold the tensors {where} lists")
            # An empty model of the described shape: its names and shapes are what the
            # file must hold, checked from the header before any weight is read.
            ckpt["model"] = {k: torch.zeros(s) for k, (s, _) in header.items()}
            restore_model(ckpt, where)
            floats = ("F16", "BF16", "F32", "F64")
            odd = next((k for k, (_, d) in header.items() if d not in floats), None)
            if odd is not None:
                raise CharLMError(f"{weights}: tensor {odd!r} is {header[odd][1]}, not floats")
            ckpt["model"] = {k: f.get_tensor(k).float() for k in header}
    except FileNotFoundError:
        raise CharLMError(f"{folder} has {DESCRIPTION} but no {WEIGHTS}") from None
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:
        detail = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
        raise CharLMError(f"{weights} is not a readable safetensors file ({detail})") from None
    model, vocab, _, _ = restore_model(ckpt, where)
    return model, vocab, ckpt
