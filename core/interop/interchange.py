"""Runs to and from other tools: a run folder for a model nanoGPT trained (`import
nanogpt`), and a run's model and records for others (`export --safetensors`, `--csv`).

An imported run holds what `runs`, `compare`, `sample`, `eval` and `inspect` read:

    config.json     the configuration (nanoGPT's shape and settings as ours), n_params,
                    the corpus (--data, else "(unknown)": eval then asks for --data) and
                    where it came from ("imported")
    best.pt         the weights in our checkpoint format (nanoGPT saves its best model)
    metrics.jsonl   a note saying it was imported, a checkpoint record and a done record
                    (reason "imported") with nanoGPT's iter_num and best_val_loss

It is written into a temporary folder beside the target and renamed into place: a
failed import leaves nothing, and an existing folder is never replaced.
"""

from __future__ import annotations

import csv
import io
import math
import os
import secrets
import shutil
from dataclasses import fields
from pathlib import Path
from typing import Any

from charlm_tui.core.config import to_dict
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_text
from charlm_tui.core.models.nanogpt import NanoGPT
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    NoteEvent,
    StepEvent,
    record_of,
)
from charlm_tui.core.runs.records import MetricsWriter, dump_json, read_records
from charlm_tui.core.runs.rundir import (
    CONFIG,
    METRICS,
    checkpoint_name,
    resolve_in_run,
)

IMPORTED_REASON = "imported"  # the done record's reason: `runs` shows it as the status
CSV_FILES = {"steps.csv": StepEvent, "evals.csv": EvalEvent}


# -- import ----------------------------------------------------------------------------------


def check_new_folder(run_dir: Path, flag: str) -> None:
    """An import goes into a new folder (or an empty one), never over anything."""
    if run_dir.is_symlink() or (run_dir.exists() and not run_dir.is_dir()):
        raise CharLMError(f"{flag} {run_dir} exists and is not a folder: choose another")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise CharLMError(
            f"{flag} {run_dir} already exists and is not empty: import never replaces a "
            "folder; choose another --out / --name"
        )


def write_imported(got: NanoGPT, ckpt_path: Path, run_dir: Path, data: str | None) -> None:
    """A new run folder for a nanoGPT checkpoint read by core/models/nanogpt.py
    `read_nanogpt` (with the same `data`)."""
    from charlm_tui.core.models import count_params
    from charlm_tui.core.models.checkpoint import FORMAT, restore_model, save_checkpoint
    from charlm_tui.core.text.corpus import load_corpus

    check_new_folder(run_dir, "the run folder")
    corpus_info: dict[str, Any] = {"spec": got.tcfg.data, "sha256": None}
    if data is not None:
        corpus = load_corpus(data, got.tcfg.encoding_errors, got.tcfg.keep_crlf)
        got.vocab.check(corpus.chars, f"--data {data!r}")
        corpus_info = {
            "spec": data, "sha256": corpus.sha256, "chars": corpus.n_chars,
            "sources": list(corpus.sources[:50]), "crlf_normalised": corpus.crlf,
        }  # fmt: skip
    best = got.best_val_loss
    origin = {
        "from": "nanoGPT",
        "checkpoint": str(ckpt_path),
        "meta": str(got.meta),
        "dataset": got.dataset,
        "iter_num": got.iter,
        "best_val_loss": best,
        "reordered_vocab": got.reordered,
    }
    state = {
        "format": FORMAT,
        "model": got.state,
        "config": to_dict(got.mcfg, got.tcfg),
        "vocab": got.vocab.chars,
        "corpus": {"spec": corpus_info["spec"], "sha256": corpus_info["sha256"]},
        "iter": got.iter,
        "best_val_loss": best,
        **({"metrics": {"val": {"loss": best}}} if best is not None else {}),
        "imported": origin,
    }
    model, _, _, _ = restore_model(state, str(ckpt_path))  # what sample will load, checked
    config = {
        **to_dict(got.mcfg, got.tcfg),
        "n_params": count_params(model),
        "vocab_size": len(got.vocab),
        "corpus": corpus_info,
        "imported": origin,
    }
    known = f"trained on {data!r}" if data is not None else "its corpus unknown: eval needs --data"
    val = f"best val loss {best:.4f}" if best is not None else "no val loss recorded"
    note = f"imported from nanoGPT {ckpt_path} (iter {got.iter:,}, {val}); {known}"
    best_pt = run_dir / checkpoint_name("best")

    def write(folder: Path) -> None:
        save_checkpoint(state, folder / checkpoint_name("best"))
        atomic_write_text(folder / CONFIG, dump_json(config, indent=2) + "\n")
        writer = MetricsWriter(folder / METRICS)
        try:
            writer.handle(NoteEvent(got.iter, note))
            writer.handle(CheckpointEvent(got.iter, str(best_pt), "best", best))
            message = "imported from nanoGPT: not trained here"
            writer.handle(
                DoneEvent(got.iter, IMPORTED_REASON, math.nan, best, message, str(best_pt))
            )
        finally:
            writer.close()

    _write_new_folder(run_dir, write)


def _write_new_folder(run_dir: Path, write: Any) -> None:
    """write(folder) into a temporary folder beside run_dir, renamed into place at the
    end: nothing is left behind when it fails, and nothing existing is replaced (a
    rename replaces an empty folder only)."""
    tmp = run_dir.parent / f".{run_dir.name[:40]}.{secrets.token_hex(4)}.importing"
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as e:
        raise CharLMError(f"cannot write in {run_dir.parent}: {e.strerror or e}") from None
    try:
        write(tmp)
        os.rename(tmp, run_dir)
    except OSError as e:
        raise CharLMError(f"cannot write {run_dir}: {e.strerror or e}; nothing was left") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# -- export ----------------------------------------------------------------------------------


def _check_out(out: Path, names: tuple[str, ...], overwrite: bool) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise CharLMError(f"--out {out} is not a folder: choose another")
    there = [n for n in names if (out / n).exists()]
    if there and not overwrite:
        raise CharLMError(f"{out / there[0]} already exists: pass --overwrite to replace it")


def export_safetensors(run_dir: Path, out: Path, overwrite: bool = False) -> tuple[Path, Path]:
    """The checkpoint a run stands for (best.pt, else last.pt) as model.safetensors and
    model.json in `out`; (the checkpoint, the folder)."""
    from charlm_tui.core.models.checkpoint import load_model
    from charlm_tui.core.models.exported import FILES, export_model

    source = resolve_in_run(run_dir)
    _check_out(out, FILES, overwrite)
    model, vocab, ckpt = load_model(source)
    try:
        export_model(ckpt, model, vocab, out)
    except OSError as e:
        raise CharLMError(f"cannot write {out}: {e.strerror or e}") from None
    return source, out


def _columns(cls: type, records: list[dict[str, Any]]) -> list[str]:
    """The header: every field the records carry, in their order (the event's fields
    when there is none: an eval's train and val metrics flattened as its records are)."""
    seen: dict[str, None] = {}
    for rec in records:
        seen.update(dict.fromkeys(rec))
    if not seen:
        for f in fields(cls):
            if f.name in ("train", "val"):
                names = ("loss", "bpc", "top1", "top5", "positions")
                seen.update(dict.fromkeys(f"{f.name}_{m}" for m in names))
            else:
                seen[f.name] = None
    seen.pop("event", None)
    return list(seen)


def export_csv(run_dir: Path, out: Path, overwrite: bool = False) -> list[Path]:
    """metrics.jsonl's step and eval records as steps.csv and evals.csv in `out`, read
    through the typed reader (a line it cannot read is left out, as every reader does)."""
    from charlm_tui.core.files import Unreadable

    path = run_dir / METRICS
    if not path.is_file():
        raise CharLMError(f"{run_dir} has no {METRICS}: no records to export")
    _check_out(out, tuple(CSV_FILES), overwrite)
    try:
        events = read_records(path)
    except Unreadable as e:
        raise CharLMError(f"cannot read {path}: {e}") from None
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, cls in CSV_FILES.items():
            records = [record_of(e) for e in events if isinstance(e, cls)]
            columns = _columns(cls, records)
            text = io.StringIO()
            table = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
            table.writeheader()
            table.writerows(records)
            atomic_write_text(out / name, text.getvalue())
            written.append(out / name)
    except OSError as e:
        raise CharLMError(f"cannot write {out}: {e.strerror or e}") from None
    return written
