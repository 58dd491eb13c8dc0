"""Following a run's records (JsonlTail, RunView): half-written lines, a run growing."""

from __future__ import annotations

from pathlib import Path

from charlm_tui.core.measures import Metrics
from charlm_tui.core.runs.events import EvalEvent, SteerEvent, record_of
from charlm_tui.core.runs.records import JsonlTail, dump_line
from charlm_tui.core.runs.view import RunView, config_differs
from charlm_tui.tui.widgets.metrics import timing_text
from tests.train_helpers import short_training


def eval_event(it: int, val: float) -> EvalEvent:
    m = Metrics(val, 0.5, 0.9, 100)
    return EvalEvent(it, m, m, 1e-3, 1.0, 0.1, 1e4, 1.0, 0.5, 1.0, val, True)


def test_follower_waits_for_half_written_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    second = dump_line(record_of(eval_event(10, 3.0)))
    path.write_text(dump_line(record_of(eval_event(0, 4.0))) + second[:20])
    tail = JsonlTail(path)
    events, reset = tail.read()
    assert [e.iter for e in events] == [0] and not reset
    with path.open("a") as f:
        f.write(second[20:])
    more, _ = tail.read()
    assert [e.iter for e in more] == [10]
    view = RunView(tmp_path)
    assert view.update() and view.best_eval.iter == 10


def test_follower_sees_a_run_grow(corpus_file: Path, tmp_path: Path) -> None:
    view = RunView(tmp_path / "run")
    assert not view.update()  # nothing there yet: no crash
    short_training(corpus_file, tmp_path / "run", max_iters=40, eval_interval=20).run()
    assert view.update()
    assert [e.iter for e in view.evals] == [0, 20, 40]
    assert view.done.reason == "finished"


def test_steered_lengths_and_intervals_stay_whole(corpus_file: Path, tmp_path: Path) -> None:
    """Steer records carry numbers as JSON floats; a run's length and its eval interval
    read from them stay whole numbers, so the iteration line and the next eval hold."""
    out = tmp_path / "run"
    short_training(corpus_file, out, max_iters=40, eval_interval=20).run()
    metrics = out / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    alive = "".join(line for line in lines if '"event": "done"' not in line)
    steers = [
        SteerEvent(40, "max_iters", 40.0, 400.0, "control.json"),
        SteerEvent(40, "eval_interval", 20.0, 30.0, "control.json"),
    ]
    metrics.write_text(alive + "".join(dump_line(record_of(e)) for e in steers))
    view = RunView(out)
    view.update()
    assert view.done is None
    assert view.length is not None and view.length.iters == 400
    assert view.next_due("eval_interval") is not None
    assert view.next_due("eval_interval")[0] == 60
    assert "next eval" in timing_text(view).plain


def test_a_config_json_from_another_run_is_caught_by_the_records(tmp_path: Path) -> None:
    import json

    from charlm_tui.tui.tables import row_of, run_cells
    from tests.tui_helpers import fake_run

    run_dir = fake_run(tmp_path, "gpt-run")  # its records say gpt, 17,184 parameters
    config = json.loads((run_dir / "config.json").read_text())
    config["model"]["model"], config["n_params"] = "lstm", 20_926  # copied from an LSTM run
    (run_dir / "config.json").write_text(json.dumps(config))
    view = RunView(run_dir)
    view.update()
    assert config_differs(view) == "config.json says lstm, the records gpt"
    assert view.n_params == view.start.n_params != 20_926
    cells = run_cells(view, 0.0)
    assert cells["model"] == "gpt (config.json differs)"
    assert cells["params"] == f"{view.start.n_params:,}"
    assert row_of(view).model == "gpt" and row_of(view).shape == "?"
    config["model"]["model"], config["n_params"] = "gpt", view.start.n_params  # agreeing
    (run_dir / "config.json").write_text(json.dumps(config))
    view.update()
    assert config_differs(view) is None
