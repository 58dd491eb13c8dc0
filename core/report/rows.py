"""A run as one row of a comparison: the numbers `compare` shows and the report writes.

Plain values (None when unknown), read from a run view (core/runs/view.py) once, so the
compare screen, `compare --format` and `charlm-tui report` say the same numbers about a
run. Which corpus each run trained on (the sha256 in its config.json) is part of the
row: runs trained on different corpora are not comparable, and every table says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from charlm_tui.core.config import shape_label
from charlm_tui.core.report.groups import learning_key
from charlm_tui.core.runs.view import RunView, config_differs
from charlm_tui.core.values import as_finite, as_int

SHA_SHOWN = 8  # hex digits of a corpus's sha256 that tell corpora apart in a sentence


@dataclass(frozen=True)
class Row:
    """One run of a comparison: plain values (None when unknown)."""

    name: str
    path: str
    model: str
    params: int | None
    shape: str
    optimizer: str
    lr: float | None
    batch: int | None
    iters: int
    chars: int | None
    seconds: float | None
    train_loss: float | None
    val_loss: float | None
    val_bpc: float | None
    val_top1: float | None
    val_top5: float | None
    gap: float | None  # val - train loss at the best eval (estimates)
    status: str
    val_source: str  # "full" (every position of the split) or "estimate" (eval batches)
    best_iter: int | None
    deltas: dict[str, float | None] = field(default_factory=dict)  # vs a baseline
    corpus: str = "?"  # --data as the run was given it
    corpus_sha256: str | None = None  # its text's hash (config.json); None when unrecorded
    tags: tuple[str, ...] = ()  # labels.json: --tag, edited from home
    notes: str = ""
    ran_with: dict[str, Any] = field(default_factory=dict)  # provenance.json's latest session
    final_val_loss: float | None = None  # the last eval's val estimate
    seed: int | None = None
    learns: str | None = None  # what it learns, its seed aside (core/report/groups.py)

    def value(self, key: str) -> Any:
        return getattr(self, key)


def corpus_sha256(view: RunView) -> str | None:
    """The sha256 of the corpus text a run trained on (config.json's corpus section);
    None where config.json has none (a run folder from elsewhere, an older version)."""
    corpus = view.config.get("corpus")
    sha = corpus.get("sha256") if isinstance(corpus, dict) else None
    if isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
        return sha
    return None


def row_of(view: RunView) -> Row:
    best, estimate = view.best_val, view.best_eval
    train, per_iter = view.train, view.chars_per_iter
    differs = config_differs(view) is not None and view.start is not None  # trust the records
    model = view.start.model if differs and view.start else view.model.get("model", "?")
    optimizer = train.get("optimizer", "adamw")  # runs from before --optimizer used AdamW
    return Row(
        name=view.label,
        path=str(view.path),
        model=str(model),
        params=view.n_params,
        shape="?" if differs else shape_label(view.model, compact=True),
        optimizer=optimizer if isinstance(optimizer, str) else "?",
        lr=as_finite(train.get("lr")),
        batch=as_int(train.get("batch_size")),
        iters=view.iter,
        chars=view.iter * per_iter if per_iter is not None else None,
        seconds=view.seconds,
        train_loss=estimate.train.loss if estimate is not None else None,
        val_loss=best.loss if best else None,
        val_bpc=best.bpc if best else None,
        val_top1=best.top1 if best else None,
        val_top5=best.top5 if best else None,
        gap=estimate.val.loss - estimate.train.loss if estimate is not None else None,
        status=view.status,
        val_source=best.source if best else "estimate",
        best_iter=best.iter if best else None,
        corpus=view.corpus,
        corpus_sha256=corpus_sha256(view),
        tags=view.labels.tags,
        notes=view.labels.notes,
        ran_with=view.ran_with,
        final_val_loss=as_finite(view.evals[-1].val.loss) if view.evals else None,
        seed=as_int(train.get("seed")),
        learns=learning_key(view.config),
    )


def corpus_label(row: Row) -> str:
    """`shakespeare (ada79969)`: the corpus as given, and the start of its hash."""
    if row.corpus_sha256 is None:
        return f"{row.corpus} (hash unrecorded)"
    return f"{row.corpus} ({row.corpus_sha256[:SHA_SHOWN]})"


def corpora_differ(rows: Sequence[Row]) -> bool:
    """More than one corpus among the rows whose corpus hash is recorded."""
    return len({r.corpus_sha256 for r in rows if r.corpus_sha256 is not None}) > 1


def corpus_warning(rows: Sequence[Row]) -> str | None:
    """One line saying which runs trained on which corpus, when they differ (the losses
    of runs on different text are not comparable); None when they agree."""
    if not corpora_differ(rows):
        return None
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(corpus_label(r), []).append(r.name)
    parts = [f"{corpus}: {', '.join(names)}" for corpus, names in groups.items()]
    return "warning: these runs trained on different corpora, so their losses do not compare: " + (
        "; ".join(parts)
    )
