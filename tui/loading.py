"""Loading what a screen needs, off the UI thread: a checkpoint for the generate pane
(and its decoder child, started early), a text scored for the inspect screen.

Each job runs in a thread worker of the app (tui/app.py `load`) and returns the message
to post: the screen's material, or `LoadFailed` with one line saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.formatting import visible
from charlm_tui.tui.messages import (
    GenerateReady,
    InspectReady,
    LoadFailed,
    OpenGenerate,
    OpenInspect,
    RunChecked,
)


def checkpoint_label(path: Path, vocab_size: int, ckpt: dict[str, Any]) -> str:
    """`run/best.pt · iter 1,200 · 65 characters · val loss 1.5123` (the folder escaped)."""
    metrics = ckpt.get("metrics") if isinstance(ckpt.get("metrics"), dict) else {}
    val = (metrics.get("val") or {}).get("loss") if isinstance(metrics.get("val"), dict) else None
    it = ckpt.get("iter")
    where = visible(f"{path.parent.name}/{path.name}")  # a folder name is untrusted
    return f"{where} · iter {it:,} · {vocab_size} characters" + (
        f" · val loss {val:.4f}" if isinstance(val, (int, float)) else ""
    )


def failing(what: str, job: Any, message: Any) -> Message:
    """job(message), or LoadFailed: a CharLMError's line, or a bug's type and text."""
    try:
        return job(message)
    except CharLMError as e:
        return LoadFailed(what, str(e))
    except Exception as e:  # a bug, or a disk that fails: said, not swallowed
        return LoadFailed(what, f"{type(e).__name__}: {e}")


def checked(make: Any) -> Message:
    """A planned run (make() builds its plan), checked against its corpus and the machine
    before a training child starts: the corpus may take a while to read."""
    from charlm_tui.core.training.plan import check_corpus

    plan = make()
    check_corpus(plan)
    return RunChecked(plan)


def for_generate(message: OpenGenerate) -> Message:
    """The checkpoint's model, ready to generate, and a decoder child already loading it."""
    from charlm_tui.core.decoding import decoder_process
    from charlm_tui.core.decoding.options import GenerateOptions
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.models.quant import resolve_precision

    model, vocab, ckpt = load_model(message.path)
    options = message.options or GenerateOptions()
    precision = resolve_precision(model, options.precision)
    try:  # started now, it loads the weights while the user types
        decoder = decoder_process.DecoderProcess(model)
    except CharLMError:  # said when the user asks for text (the pane tries again)
        decoder = None
    label = checkpoint_label(message.path, len(vocab), ckpt)
    return GenerateReady(model, vocab, label, message.path, options, precision, decoder)


def for_inspect(message: OpenInspect) -> Message:
    """The checkpoint's model and the text scored with it (a split may take a moment)."""
    from charlm_tui.core.config import from_dict
    from charlm_tui.core.decoding.inspect import inspect_text
    from charlm_tui.core.models.checkpoint import load_model

    model, vocab, ckpt = load_model(message.path)
    mcfg, tcfg = from_dict(ckpt["config"], str(message.path))
    source = message.source
    text = message.text if message.text is not None else source.read(vocab, tcfg, True)
    inspection = inspect_text(
        model, vocab, text, mcfg.block_size, what=source.describe(), skip_unseen=True
    )
    label = f"{source.describe()} · {checkpoint_label(message.path, len(vocab), ckpt)}"
    return InspectReady(model, inspection, label)
