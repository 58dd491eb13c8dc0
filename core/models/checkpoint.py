"""Checkpoints: atomic writes, safe loads, validation before use.

A checkpoint is a plain dict of tensors and Python primitives, so it loads with
`torch.load(weights_only=True)`, which never executes code from the file.
"""

from __future__ import annotations

import pickle
import re
import stat
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.config import ModelConfig, TrainConfig, from_dict
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write
from charlm_tui.core.models import build_model
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.values import is_int, is_number

FORMAT = "charlm-tui/1"  # the format tag every checkpoint carries
REQUIRED = ("format", "model", "config", "vocab", "iter")
CHECKPOINT_KINDS = ("best", "last")  # a folder of checkpoints stands for the first that exists


def checkpoint_name(kind: str) -> str:
    return f"{kind}.pt"


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Written atomically (core/files.py): a crash leaves the old file or the new one."""
    atomic_write(Path(path), lambda f: torch.save(state, f))


def check_file(path: str | Path) -> Path:
    """`path` as a checkpoint file to read: a one-line CharLMError when it is missing, a
    folder, a FIFO or anything but a regular file (runs/rundir.py `checkpoint_path`
    turns a run directory into its checkpoint first)."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CharLMError(f"no such checkpoint file: {path}") from None
    except OSError as e:  # a name too long, a loop of links...
        raise CharLMError(f"cannot use {str(path)[:80]!r} as a checkpoint: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise CharLMError(f"{path} is a folder, not a checkpoint file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise CharLMError(f"{path} is {kind}, not a checkpoint file")
    return path


def torch_load(path: str | Path, what: str = "checkpoint") -> Any:
    """A torch file's contents with `weights_only=True` (plain data and tensors, nothing
    executed); a one-line CharLMError when it is missing, not a file, refused or corrupt."""
    path = check_file(path)
    try:
        with warnings.catch_warnings():  # a file that is a plain pickle: our line says it
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found is None:
            raise CharLMError(f"{path} is not a readable {what} (corrupt pickle data)") from None
        raise CharLMError(
            f"{path}: refused to load, it holds Python objects ({found.group(1)}) that a "
            "weights-only load does not allow (loading it unsafely could run code)"
        ) from None
    except PermissionError:
        raise CharLMError(f"cannot read {path}: permission denied") from None
    except Exception as e:  # any failure to parse untrusted bytes means "not a checkpoint"
        detail = str(e).strip().split(". ")[0][:100] if str(e).strip() else type(e).__name__
        raise CharLMError(
            f"{path} is not a readable {what} (truncated or corrupt: {detail})"
        ) from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check the outer structure; raise CharLMError naming what is wrong."""
    ckpt = torch_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CharLMError(f"{path} is not a charlm-tui checkpoint (no '{FORMAT}' format tag)")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CharLMError(f"{path} is missing {', '.join(missing)}: not a complete checkpoint")
    it = ckpt["iter"]
    if not is_int(it) or it < 0:
        raise CharLMError(f"{path}: iter must be a whole number >= 0, not {it!r}")
    metrics = ckpt.get("metrics")
    if metrics is not None and not (
        isinstance(metrics, dict)
        and all(
            isinstance(m, dict) and all(is_number(v) for v in m.values()) for m in metrics.values()
        )
    ):
        raise CharLMError(f"{path}: its metrics are not numbers by split")
    return ckpt


def restore_model(
    ckpt: dict[str, Any], where: str = "checkpoint"
) -> tuple[nn.Module, Vocab, ModelConfig, TrainConfig]:
    """Build the model a checkpoint describes and load its weights, after checking them."""
    mcfg, tcfg = from_dict(ckpt["config"], where)
    if not isinstance(ckpt["vocab"], str):
        raise CharLMError(f"{where}: its vocabulary is not a string of characters")
    try:
        vocab = Vocab(ckpt["vocab"])
    except CharLMError as e:
        raise CharLMError(f"{where}: {e}") from None
    if len(vocab) != mcfg.vocab_size:
        raise CharLMError(
            f"{where}: vocabulary has {len(vocab)} characters but the config says {mcfg.vocab_size}"
        )
    try:
        model = build_model(mcfg)
    except (CharLMError, RuntimeError, ValueError) as e:
        raise CharLMError(f"{where}: cannot build its model ({e})") from None
    state = ckpt["model"]
    if not isinstance(state, dict):
        raise CharLMError(f"{where}: its weights are not a state dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise CharLMError(f"{where}: weights do not match its config ({what})")
    for name, tensor in expected.items():
        got = state[name]
        if isinstance(got, torch.Tensor) and got.layout != torch.strided:
            raise CharLMError(f"{where}: tensor {name!r} is {got.layout}, not a dense tensor")
        if not isinstance(got, torch.Tensor) or got.shape != tensor.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CharLMError(
                f"{where}: tensor {name!r} has shape {shape}, "
                f"its config needs {tuple(tensor.shape)}"
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise CharLMError(f"{where}: tensor {name!r} holds NaN or infinite values")
    model.load_state_dict(state)
    return model, vocab, mcfg, tcfg


def load_model(path: str | Path) -> tuple[nn.Module, Vocab, dict[str, Any]]:
    """The model, vocabulary and checkpoint dict of a checkpoint file, or of a folder
    `export --safetensors` wrote (core/models/exported.py: the same dict, built from its
    model.json)."""
    if Path(path).is_dir():
        from charlm_tui.core.models.exported import is_exported, load_exported

        if is_exported(Path(path)):
            return load_exported(Path(path))
    ckpt = load_checkpoint(path)
    model, vocab, _, _ = restore_model(ckpt, where=str(path))
    return model, vocab, ckpt
