"""Typed events the training engine emits, and the sink protocol that consumes them.

The loop knows nothing about consoles, files or widgets: it hands each event to every
sink. Each event has a `record()`, the JSON form the run directory stores, and
`from_record()` turns such a line back into the same event (core/runs/records.py reads
files with it), so writers and readers share one schema: the dashboard, `runs` and the
tests all see typed events, never loose dicts.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Protocol, Union, get_args, get_origin, get_type_hints

from charlm_tui.core.internals.stats import RULES, LayerStats, WeightStats
from charlm_tui.core.measures import LayerSummary, Metrics
from charlm_tui.core.values import is_int, is_number


@dataclass(frozen=True)
class StartEvent:
    iter: int
    run_dir: str | None
    model: str  # the architecture, e.g. "gpt"
    data: str  # the corpus, as given to --data
    max_iters: int | None  # the run's length: one of these two
    time_budget: float | None
    n_params: int
    vocab_size: int
    train_chars: int
    val_chars: int
    device: str
    threads: int
    world_size: int
    resumed: bool
    layers: tuple[LayerSummary, ...] = ()
    time: float | None = None  # Unix seconds, set by the writer

    EVENT: ClassVar[str] = "start"

    def record(self) -> dict[str, Any]:
        rec = _plain(self)
        rec["layers"] = [[row.name, row.kind, row.params] for row in self.layers]
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> StartEvent | None:
        layers = rec.get("layers", [])
        if not isinstance(layers, list):
            return None
        rows = []
        for row in layers:
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[2], int)):
                return None
            rows.append(LayerSummary(str(row[0]), str(row[1]), row[2]))
        return _typed(cls, {**rec, "layers": tuple(rows)})


@dataclass(frozen=True)
class StepEvent:
    iter: int  # optimizer steps completed
    loss: float
    lr: float
    grad_norm: float
    dt_s: float  # seconds of this step
    tokens_per_s: float  # over the recent steps
    elapsed_s: float
    progress: float  # 0..1 of max_iters or the time budget
    eta_s: float
    time: float | None = None

    EVENT: ClassVar[str] = "step"


@dataclass(frozen=True)
class EvalEvent:
    iter: int
    train: Metrics
    val: Metrics
    lr: float
    t_train_s: float  # training seconds since the previous eval
    t_eval_s: float
    tokens_per_s: float
    elapsed_s: float
    progress: float
    eta_s: float
    best_val_loss: float
    is_best: bool = False
    time: float | None = None

    EVENT: ClassVar[str] = "eval"

    def record(self) -> dict[str, Any]:
        rec = _plain(self)
        for split in ("train", "val"):
            m: Metrics = rec.pop(split)
            rec.update(
                {
                    f"{split}_loss": m.loss,
                    f"{split}_bpc": m.bpc,
                    f"{split}_top1": m.top1,
                    f"{split}_top5": m.top5,
                    f"{split}_positions": m.n_tokens,
                }
            )
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> EvalEvent | None:
        splits = {}
        for split in ("train", "val"):
            got = [_number(rec.get(f"{split}_{k}")) for k in ("loss", "top1", "top5")]
            if any(v is None for v in got):
                return None
            loss, top1, top5 = got
            n = rec.get(f"{split}_positions", 0)
            n = n if is_int(n) else 0
            splits[split] = Metrics(loss, top1, top5, n)  # type: ignore[arg-type]
        return _typed(cls, {**rec, **splits})


@dataclass(frozen=True)
class SampleEvent:
    iter: int
    prompt: str
    text: str
    temperature: float
    elapsed_s: float
    time: float | None = None

    EVENT: ClassVar[str] = "sample"


@dataclass(frozen=True)
class CheckpointEvent:
    iter: int
    path: str
    kind: str  # "last" or "best"
    val_loss: float | None
    time: float | None = None

    EVENT: ClassVar[str] = "checkpoint"


@dataclass(frozen=True)
class DoneEvent:
    iter: int
    reason: str  # "finished", "stopped", "interrupted", "terminated", "diverged", "failed"
    elapsed_s: float
    best_val_loss: float | None
    message: str = ""
    last_checkpoint: str | None = None
    exit_code: int = 0  # what the training process exits with (128 + signal after one)
    time: float | None = None

    EVENT: ClassVar[str] = "done"


@dataclass(frozen=True)
class NoteEvent:
    """Something the user should know that is not an error (a fallback, say)."""

    iter: int
    text: str
    time: float | None = None

    EVENT: ClassVar[str] = "note"


@dataclass(frozen=True)
class SteerEvent:
    """A steerable option changed while the run trained (from the step after `iter`)."""

    iter: int
    field: str  # a name of core.config.STEERABLE
    old: float | None
    new: float | None
    source: str  # where the request came from: "control.json" (a dashboard, `steer`)
    time: float | None = None

    EVENT: ClassVar[str] = "steer"

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> SteerEvent | None:
        from charlm_tui.core.config import STEERABLE  # a field of a steerable option, or not ours

        return _typed(cls, rec) if rec.get("field") in STEERABLE else None


@dataclass(frozen=True)
class AlertEvent:
    """Training looks unhealthy at `iter`: a loss or gradient-norm spike, a non-finite
    value; `action` is what the run did about it (--on-alert: warn, pause, stop)."""

    iter: int
    kind: str  # "loss spike", "grad-norm spike", "non-finite"
    value: float | None  # what was seen
    baseline: float | None  # its recent moving average
    action: str  # "warn", "pause", "stop"
    message: str
    time: float | None = None

    EVENT: ClassVar[str] = "alert"


@dataclass(frozen=True)
class InternalsEvent:
    """The model's internals at `iter`, every --internals-interval steps: a row per
    layer (activations, saturation, gradient norm) and per weight matrix (gradient norm,
    update-to-data ratio); core/internals/stats.py says what each value is."""

    iter: int
    layers: tuple[LayerStats, ...]
    weights: tuple[WeightStats, ...]
    time: float | None = None

    EVENT: ClassVar[str] = "internals"

    def record(self) -> dict[str, Any]:
        rec = _plain(self)
        rec["layers"] = [_plain(row) for row in self.layers]
        rec["weights"] = [_plain(row) for row in self.weights]
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> InternalsEvent | None:
        """None unless every row has every field, typed (a mean without an activation
        named, a saturation without a rule, and the like are refused too)."""
        layers, weights = rec.get("layers"), rec.get("weights")
        if not (isinstance(layers, list) and isinstance(weights, list)):
            return None
        rows: list[LayerStats] = []
        for row in layers:
            got = _row(row, ("name", "what", "rule"), ("grad_norm",))
            if got is None or got["rule"] not in RULES:
                return None
            seen, ruled = got["what"] != "", got["rule"] != ""
            if ruled and not seen:
                return None
            values = {}
            for key, wanted in (("mean", seen), ("std", seen), ("saturated", ruled)):
                value = _number(row.get(key)) if wanted else None
                if (wanted and (key not in row or value is None)) or (
                    not wanted and row.get(key) is not None
                ):
                    return None
                values[key] = value
            rows.append(LayerStats(**got, **values))
        matrices: list[WeightStats] = []
        for row in weights:
            got = _row(row, ("name", "layer"), ("grad_norm", "ratio"))
            if got is None:
                return None
            matrices.append(WeightStats(**got))
        return _typed(cls, {**rec, "layers": tuple(rows), "weights": tuple(matrices)})


Event = (
    StartEvent
    | StepEvent
    | EvalEvent
    | SampleEvent
    | CheckpointEvent
    | DoneEvent
    | NoteEvent
    | SteerEvent
    | AlertEvent
    | InternalsEvent
)
EVENTS: dict[str, type] = {
    cls.EVENT: cls
    for cls in (
        StartEvent,
        StepEvent,
        EvalEvent,
        SampleEvent,
        CheckpointEvent,
        DoneEvent,
        NoteEvent,
        SteerEvent,
        AlertEvent,
        InternalsEvent,
    )
}


def record_of(event: Event) -> dict[str, Any]:
    """The JSON object stored for an event: {"event": kind, ...its fields}."""
    custom = getattr(event, "record", None)
    rec = custom() if custom is not None else _plain(event)
    return {"event": event.EVENT, **rec}


_FAST: dict[bytes, Any] = {}  # filled on the first read: msgspec is not for `--help`
_REFUSED: tuple[type[Exception], ...] = ()


def _compile_decoders() -> None:
    """A compiled decoder for each kind stored flat (no `from_record` of its own), keyed
    by how our writer starts its line: `{"event": "step"`."""
    global _REFUSED
    import msgspec

    # Worker threads read records too: _REFUSED is set before any decoder is published,
    # and the decoders are published at once (one dict.update, under the GIL), so a
    # thread that sees a decoder also catches what it refuses.
    _REFUSED = (msgspec.DecodeError, UnicodeDecodeError)  # ValidationError is a DecodeError
    built = {
        f'{{"event": "{kind}"'.encode(): msgspec.json.Decoder(cls)
        for kind, cls in EVENTS.items()
        if not hasattr(cls, "from_record")
    }
    _FAST.update(built)


def decode_line(line: bytes) -> Event | None:
    """The event one stored line holds, or None (see `from_record`).

    Step records are nearly every line of a long run, so the kinds stored flat are built
    straight from the bytes by msgspec: 100k step lines take 0.15 s this way against 0.30 s
    for json.loads alone (bench/records_scale.py); json.loads with `from_record` took ~1.9x
    json.loads.
    A line the compiled decoder refuses (a null for a non-finite number, another writer's
    spacing, a wrong type) takes the general path, which decides as before."""
    if not _FAST:
        _compile_decoders()
    decoder = _FAST.get(line[: line.find(b",")])
    if decoder is not None:
        try:
            return decoder.decode(line)
        except _REFUSED:
            pass
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError
        return None
    return from_record(raw)


def from_record(rec: Any) -> Event | None:
    """The event a stored JSON object describes, or None if it is not one we can trust
    (unknown kind, missing field, wrong type: a file from another version or tool)."""
    if not isinstance(rec, dict):
        return None
    cls = EVENTS.get(rec.get("event"))  # type: ignore[arg-type]
    if cls is None:
        return None
    reader = getattr(cls, "from_record", None)
    return reader(rec) if reader is not None else _typed(cls, rec)


class Sink(Protocol):
    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...


# -- helpers ---------------------------------------------------------------------------------


def _plain(event: Any) -> dict[str, Any]:
    """Field values by name; an unset time is left out (the writer adds it)."""
    rec = {f.name: getattr(event, f.name) for f in fields(event)}
    if rec.get("time") is None:
        rec.pop("time", None)
    return rec


def _number(value: Any) -> float | None:
    """JSON numbers; null stands for a non-finite value (JSON has no NaN)."""
    if value is None:
        return math.nan
    if is_number(value):
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range, as 1e999 reads: infinite
            return math.inf if value > 0 else -math.inf
    return None


def _row(row: Any, texts: tuple[str, ...], numbers: tuple[str, ...]) -> dict[str, Any] | None:
    """A record's row (a JSON object): its text fields and number fields, typed, or None."""
    if not isinstance(row, dict):
        return None
    got: dict[str, Any] = {}
    for key in texts:
        if not isinstance(row.get(key), str):
            return None
        got[key] = row[key]
    for key in numbers:
        if key not in row or (value := _number(row[key])) is None:
            return None
        got[key] = value
    return got


_HINTS: dict[type, dict[str, Any]] = {}


def _typed(cls: type, rec: dict[str, Any]) -> Any:
    hints = _HINTS.get(cls)
    if hints is None:  # worked out once per class: it costs more than the record
        hints = _HINTS[cls] = get_type_hints(cls)
    values = {}
    for f in fields(cls):
        if f.name not in rec:
            if f.default is MISSING:
                return None
            continue
        value = _coerce(hints[f.name], rec[f.name])
        if value is _BAD:
            return None
        values[f.name] = value
    return cls(**values)


_BAD = object()


def _coerce(hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            got = _coerce(option, value)
            if got is not _BAD:
                return got
        return _BAD
    if hint is float:
        number = _number(value)
        return _BAD if number is None else number
    if hint is int:
        return value if is_int(value) else _BAD
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    return value  # already converted by the event's own from_record (Metrics, layers)
