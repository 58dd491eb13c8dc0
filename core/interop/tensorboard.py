"""TensorBoard event files for a run, for people who already live in TensorBoard.

`train --tensorboard` adds a `TensorBoardSink` to the training's sinks; `export RUN
--tensorboard` feeds a finished run's records through the same sink afterwards. Both
write `<run>/tb/` through `torch.utils.tensorboard`, which needs the `tensorboard`
package: an optional extra (`pip install "charlm-tui[tensorboard]"`), imported only here and
only when asked for, so nothing else pays for it.

    loss/train, loss/val, bpc/*, top1/*, top5/*   each eval (eval-batch estimates)
    train/step_loss, opt/lr, opt/grad_norm, speed/tokens_per_s   each logged step
    best/val_loss                                  at the end: the HParams metric
    sample (text), config (text), hparams          the samples and the configuration
    steer (text)                                   each option steered: `lr_scale: 1 → 0.5`
    internals/update_ratio/<weight matrix>         each --internals-interval: log10 ratio
    internals/act_std|saturated|grad_norm/<layer>  the same steps, per layer
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import refuse_link
from charlm_tui.core.runs.events import (
    AlertEvent,
    DoneEvent,
    EvalEvent,
    Event,
    InternalsEvent,
    SampleEvent,
    StartEvent,
    SteerEvent,
    StepEvent,
)
from charlm_tui.core.runs.labels import read_labels
from charlm_tui.core.runs.records import read_records
from charlm_tui.core.runs.rundir import (
    METRICS,
    SAMPLES,
    TENSORBOARD,
    RunLock,
    is_run_dir,
    read_config,
)

INSTALL = 'pip install "charlm-tui[tensorboard]"'
EVENT_FILE_PREFIX = "events.out.tfevents."
FLUSH_S = 10  # torch's default is 120 s: too long for someone watching a live run


def available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def require(flag: str = "--tensorboard") -> None:
    """One line saying how to install it, before anything is written."""
    if not available():
        raise CharLMError(f"{flag} needs the tensorboard package: {INSTALL}")


def _hparam(value: Any) -> Any:
    # TensorBoard's hparams take numbers, strings and booleans only.
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _code(text: str) -> str:
    """TensorBoard renders text as markdown: indented, a sample is shown as it is."""
    return "\n".join("    " + line for line in text.split("\n"))


def steer_text(event: SteerEvent) -> str:
    """`lr_scale: 1 → 0.5 (control.json)`: what changed, from the step after event.iter."""

    def show(value: float | None) -> str:
        return "none" if value is None else f"{value:g}"

    source = event.source.replace("`", "'")  # from a record: kept inside its code span
    return f"`{event.field}`: {show(event.old)} → {show(event.new)} (`{source}`)"


class TensorBoardSink:
    """Writes a run's events as TensorBoard summaries into <run>/tb/.

    The writer opens at the run's start event, after the run directory is claimed, so
    a refused start writes nothing. A resumed run purges what the interrupted one wrote
    after its checkpoint, as metrics.jsonl does."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.writer: Any = None

    def _open(self, start: StartEvent | None) -> Any:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        purge = start.iter + 1 if start is not None and start.resumed else None
        refuse_link(self.run_dir / TENSORBOARD)  # another run's event files, say
        self.writer = SummaryWriter(
            log_dir=str(self.run_dir / TENSORBOARD), purge_step=purge, flush_secs=FLUSH_S
        )
        config = read_config(self.run_dir) or {}
        flat = {
            f"{section}.{k}": _hparam(v)
            for section in ("model", "train")
            if isinstance(config.get(section), dict)
            for k, v in config[section].items()
            if v is not None
        }
        if isinstance(config.get("n_params"), int):
            flat["n_params"] = config["n_params"]
        labels = read_labels(self.run_dir)
        flat["tags"] = " ".join(labels.tags)  # the HParams table's column to filter by
        exp, ssi, _ = hparams(flat, {"best/val_loss": 0.0})
        self.writer.file_writer.add_summary(exp)
        self.writer.file_writer.add_summary(ssi)
        step = start.iter if start is not None else 0
        self.writer.add_text("config", _code(json.dumps(config, indent=2)), step)
        if labels:  # as code: anybody's text, never read as markdown
            text = f"tags: {' '.join(labels.tags)}\nnotes: {labels.notes}"
            self.writer.add_text("labels", _code(text), step)
        return self.writer

    def handle(self, event: Event) -> None:
        w = self.writer or self._open(event if isinstance(event, StartEvent) else None)
        t, it = event.time, event.iter
        if isinstance(event, StepEvent):
            w.add_scalar("train/step_loss", event.loss, it, t)
            w.add_scalar("opt/lr", event.lr, it, t)
            w.add_scalar("opt/grad_norm", event.grad_norm, it, t)
            w.add_scalar("speed/tokens_per_s", event.tokens_per_s, it, t)
        elif isinstance(event, EvalEvent):
            for split, m in (("train", event.train), ("val", event.val)):
                w.add_scalar(f"loss/{split}", m.loss, it, t)
                w.add_scalar(f"bpc/{split}", m.bpc, it, t)
                w.add_scalar(f"top1/{split}", m.top1, it, t)
                w.add_scalar(f"top5/{split}", m.top5, it, t)
        elif isinstance(event, SampleEvent):
            w.add_text("sample", _code(event.prompt + event.text), it, t)
        elif isinstance(event, SteerEvent):
            w.add_text("steer", steer_text(event), it, t)
        elif isinstance(event, AlertEvent):
            w.add_text("alert", _code(event.message), it, t)
        elif isinstance(event, InternalsEvent):
            for weight in event.weights:  # names are the model's parameters: tag-safe
                w.add_scalar(f"internals/update_ratio/{weight.name}", weight.ratio, it, t)
            for layer in event.layers:
                w.add_scalar(f"internals/grad_norm/{layer.name}", layer.grad_norm, it, t)
                if layer.std is not None:
                    w.add_scalar(f"internals/act_std/{layer.name}", layer.std, it, t)
                if layer.saturated is not None:
                    w.add_scalar(f"internals/saturated/{layer.name}", layer.saturated, it, t)
        elif isinstance(event, DoneEvent):
            from torch.utils.tensorboard.summary import hparams

            if event.best_val_loss is not None:
                w.add_scalar("best/val_loss", event.best_val_loss, it, t)
            # the session's end tells the HParams view how the run ended
            w.file_writer.add_summary(hparams({}, {})[2])
            w.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def export_run(run_dir: Path, overwrite: bool = False) -> Path:
    """Convert a run's records (metrics.jsonl, samples.jsonl, config.json) into
    TensorBoard event files in <run>/tb/; the folder written."""
    require()
    if not run_dir.is_dir() or not is_run_dir(run_dir):
        raise CharLMError(f"{run_dir} is not a run directory")
    if RunLock.held(run_dir):
        raise CharLMError(
            f"{run_dir} is still training: export it when it ends (or train with --tensorboard)"
        )
    out = run_dir / TENSORBOARD
    refuse_link(out)
    if out.exists() and not out.is_dir():
        raise CharLMError(f"{out} is a file, not a folder of event files: move it away first")
    old = [p for p in out.iterdir() if p.name.startswith(EVENT_FILE_PREFIX)] if out.is_dir() else []
    if old and not overwrite:
        raise CharLMError(f"{out} already holds event files: pass --overwrite to replace them")
    events = read_records(run_dir / METRICS)
    samples = read_records(run_dir / SAMPLES)
    if not events:
        raise CharLMError(f"{run_dir} has no records to export yet")
    try:
        for p in old:
            os.unlink(p)
        sink = TensorBoardSink(run_dir)
        try:
            for event in sorted([*events, *samples], key=lambda e: e.time or 0.0):
                sink.handle(event)
        finally:
            sink.close()
    except OSError as e:  # a read-only run folder, a full disk
        raise CharLMError(f"cannot write {out}: {e.strerror or e}") from None
    return out
