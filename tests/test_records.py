"""Reading a run's records typed: the compiled path agrees with the general one on every
line, and a listing read again reads only what the files gained."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import charlm_tui.core.runs.events as events
import charlm_tui.core.runs.records as records
from charlm_tui.core.measures import LayerSummary, Metrics
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    NoteEvent,
    SampleEvent,
    StartEvent,
    SteerEvent,
    StepEvent,
    decode_line,
    from_record,
    record_of,
)
from charlm_tui.core.runs.listing import RunViews
from charlm_tui.core.runs.records import dump_line

M = Metrics(1.5, 0.5, 0.9, 100)
# fmt: off
ONE_OF_EACH = [
    StartEvent(0, "r", "gpt", "shakespeare", 100, None, 1000, 65, 900, 100, "cpu", 2, 1, False,
               (LayerSummary("wte", "Embedding", 640),)),
    StepEvent(1, 2.5, 1e-3, 0.7, 0.01, 5e4, 0.01, 0.01, 9.9, time=1.7e9),
    StepEvent(2, math.nan, 1e-3, math.inf, 0.01, 5e4, 0.02, 0.02, 9.9),
    EvalEvent(100, M, M, 1e-3, 1.0, 0.1, 1e4, 1.0, 0.5, 1.0, 1.5, True),
    SampleEvent(100, "\n", "ROMEO:\x1b]0;x\x07", 0.8, 1.0),
    CheckpointEvent(100, "best.pt", "best", 1.5),
    CheckpointEvent(100, "last.pt", "last", None),
    DoneEvent(100, "finished", 2.0, 1.5, last_checkpoint="last.pt"),
    NoteEvent(3, "evals were cut"),
    SteerEvent(50, "lr_scale", 1.0, 0.5, "control.json"),
]
# fmt: on


def line_of(event: Any) -> bytes:
    return dump_line(record_of(event)).encode()


def general(line: bytes) -> Any:
    """The reading every line had before the compiled path: json.loads, then from_record."""
    try:
        return from_record(json.loads(line))
    except ValueError:
        return None


def test_every_kind_reads_back_as_written() -> None:
    for event in ONE_OF_EACH:
        got = decode_line(line_of(event))
        assert type(got) is type(event)
        assert line_of(got) == line_of(event)  # NaN != NaN: compare what is stored


STEP_FIELDS = ["iter", "loss", "lr", "grad_norm", "dt_s", "tokens_per_s", "elapsed_s",
               "progress", "eta_s", "time"]  # fmt: skip
ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.just(10**400),  # beyond float's range: reads as infinite, never raises
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="0123456789.-e", max_size=4),  # numbers as text: not numbers
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(STEP_FIELDS), ANY_JSON, max_size=2),
    st.sets(st.sampled_from(STEP_FIELDS), max_size=1),
)
def test_the_compiled_path_decides_as_the_general_one(
    changed: dict[str, Any], dropped: set[str]
) -> None:
    """A step record with a field or two changed to any JSON value, or one left out."""
    fields = {**json.loads(line_of(ONE_OF_EACH[1])), **changed}
    line = json.dumps({k: v for k, v in fields.items() if k not in dropped}).encode()
    fast, slow = decode_line(line), general(line)
    assert (fast is None) == (slow is None)
    if fast is not None:
        assert line_of(fast) == line_of(slow)


def test_lines_that_are_not_events_are_skipped() -> None:
    step = line_of(ONE_OF_EACH[1])
    for bad in [step[:40], step.replace(b'"iter": 1', b'"iter": true'),
                b'{"event": "step"', b"[" * 100_000,
                b'{"event": "steer", "iter": 1, "field": "n_layer", "old": 1, "new": 2, '
                b'"source": "x"}']:  # fmt: skip
        assert decode_line(bad) is None
    invalid_utf8 = line_of(ONE_OF_EACH[8]).replace(b"evals", b"\xffvals")
    assert decode_line(invalid_utf8) is None


def write_run(run: Path, steps: int, start: int = 1) -> None:
    with (run / "metrics.jsonl").open("ab") as f:
        for it in range(start, start + steps):
            f.write(line_of(StepEvent(it, 2.0, 1e-3, 0.7, 0.01, 5e4, it * 0.01, 0.5, 9.0)))


def test_a_listing_read_again_reads_only_what_was_appended(tmp_path: Path, monkeypatch) -> None:
    runs = []
    for k in range(3):
        run = tmp_path / f"run{k}"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"model": {}, "train": {}}))
        write_run(run, 2000)
        runs.append(run)
    read: list[int] = []
    opened = records.open_regular

    def counting(path: Path):
        f = opened(path)
        real = f.read

        def read_counted(*args: Any) -> bytes:
            data = real(*args)
            read.append(len(data))
            return data

        f.read = read_counted  # type: ignore[method-assign]
        return f

    monkeypatch.setattr(records, "open_regular", counting)
    views = RunViews()
    first = views.list(tmp_path)
    whole = sum(read)
    assert whole >= sum((r / "metrics.jsonl").stat().st_size for r in runs)
    assert [v.last_step.iter for v in first] and all(v.iter == 2000 for v in first)
    before = (runs[1] / "metrics.jsonl").stat().st_size
    write_run(runs[1], 100, start=2001)
    appended = (runs[1] / "metrics.jsonl").stat().st_size - before
    read.clear()
    again = {v.path.name: v for v in views.list(tmp_path)}
    assert sum(read) == appended  # not one byte of what was folded before
    assert again["run1"].iter == 2100 and again["run0"].iter == 2000
    assert not again["run1"].steps  # a listing keeps no step records: memory stays flat


NAN_STEP = (
    b'{"event": "step", "iter": 2, "loss": null, "lr": 0.001, "grad_norm": null, "dt_s": 0.01, '
    b'"tokens_per_s": 50000.0, "elapsed_s": 0.02, "progress": 0.02, "eta_s": 9.9}'
)


def test_a_thread_reading_while_another_builds_the_decoders_gets_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TUI reads records from worker threads: one that reads while another is still
    building the compiled decoders (here held after the step decoder) must decode a line
    the step decoder refuses (a diverged run's null loss) by the general path."""
    import msgspec

    monkeypatch.setattr(events, "_FAST", {})
    monkeypatch.setattr(events, "_REFUSED", ())
    real = msgspec.json.Decoder
    built: list[type] = []
    holding, release = threading.Event(), threading.Event()
    builder: dict[str, threading.Thread] = {}

    def held(cls: type, *args: object, **kwargs: object) -> object:
        decoder = real(cls, *args, **kwargs)
        if threading.current_thread() is builder["thread"]:
            if StepEvent in built:  # the step decoder is built: hold the next one
                holding.set()
                release.wait(30)
            built.append(cls)
        return decoder

    monkeypatch.setattr(msgspec.json, "Decoder", held)
    builder["thread"] = threading.Thread(target=events.decode_line, args=(NAN_STEP,))
    builder["thread"].start()
    assert holding.wait(30)
    try:
        got = events.decode_line(NAN_STEP)
    finally:
        release.set()
        builder["thread"].join(30)
    assert isinstance(got, StepEvent) and got.iter == 2 and math.isnan(got.loss)
