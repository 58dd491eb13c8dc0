"""Reading a run's records, typed, against json.loads of the same lines, as runs grow.

    python bench/records_scale.py [--sizes 10000,100000,1000000] [--rounds 3]

Each size gets a metrics.jsonl of that many step records (and an eval every 500), then
three readers take turns (A B C A B C ...) in this one process: A is the floor,
`json.loads` of every line of the file's bytes; B is `read_records`, which builds the
typed events every screen and command reads; C is what the dashboard and `watch` do on
opening the run (a RunView with its curves: B plus folding, step records thinned for
the chart). Prints the median of each, B's and C's ratios to A (targets: B ≤ 1x,
C ≤ 2x), and B's time per record (flat when the cost grows linearly with the records).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, table
from charlm_tui.core.measures import Metrics
from charlm_tui.core.runs.events import EvalEvent, StepEvent, record_of
from charlm_tui.core.runs.records import dump_line, read_records
from charlm_tui.core.runs.rundir import METRICS
from charlm_tui.core.runs.view import RunView


def write_run(path: Path, steps: int) -> None:
    """A metrics.jsonl as a long run logging every step writes it."""
    with path.open("w", encoding="utf-8") as f:
        for it in range(1, steps + 1):
            loss = 1.5 + 2.5 / (1 + it / 500)
            step = StepEvent(it, loss, 3e-3, 0.8, 0.012, 41000.0, it * 0.012, it / steps, 9.0)
            f.write(dump_line({**record_of(step), "time": 1.79e9 + it * 0.012}))
            if it % 500 == 0:
                m = Metrics(loss, 0.45, 0.82, 16384)
                ev = EvalEvent(it, m, m, 3e-3, 6.0, 0.4, 41000.0, it * 0.012, 0.5, 9.0, loss, True)
                f.write(dump_line(record_of(ev)))


def raw(path: Path) -> int:
    """The floor: every line parsed by json.loads, nothing typed."""
    return sum(1 for line in path.read_bytes().split(b"\n") if line and json.loads(line))


def typed(path: Path) -> int:
    return len(read_records(path))


def opened(path: Path) -> int:
    """What the dashboard and `watch` do on opening a run: every record read into a
    RunView with its curves (long runs' step records thinned for the chart)."""
    view = RunView(path.parent, curves=True, samples=False)
    view.update()
    return len(view.steps) + len(view.evals)


def timed(fn, path: Path) -> tuple[float, int]:
    t = time.perf_counter()
    n = fn(path)
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"run-{size}" / METRICS
            path.parent.mkdir()
            write_run(path, size)
            times: dict[str, list[float]] = {"raw": [], "typed": [], "opened": []}
            counts = {}
            for _ in range(args.rounds):  # in turns: A B A B ...
                for name, fn in (("raw", raw), ("typed", typed), ("opened", opened)):
                    seconds, counts[name] = timed(fn, path)
                    times[name].append(seconds)
            a, b = statistics.median(times["raw"]), statistics.median(times["typed"])
            assert counts["raw"] == counts["typed"], counts  # every record read, typed
            c = statistics.median(times["opened"])
            rows.append([
                f"{size:,}", f"{path.stat().st_size / 1e6:.1f} MB", f"{a:.3f} s", f"{b:.3f} s",
                f"{b / a:.2f}x", f"{b / counts['typed'] * 1e6:.2f} µs", f"{c:.3f} s",
                f"{c / a:.2f}x",
            ])  # fmt: skip
    print(machine())
    print(f"median of {args.rounds} rounds in turns; ratios to json.loads")
    heads = ["step records", "file", "json.loads", "read_records", "ratio", "per record",
             "dashboard open", "ratio"]  # fmt: skip
    print(table(heads, rows))


if __name__ == "__main__":
    main()
