"""Big corpora: time to the first step and peak memory, against reading the file once.

    python bench/corpus_scale.py [--sizes 10,100,1000] [--rounds 2] [--mixed]

Each size (MB) is a corpus of tinyshakespeare copies (with --mixed, a line of Russian,
Japanese and emoji every 60 lines, so every piece goes the code-point way). In turns,
each side in a fresh process with its own data folder, imports done before the clock:

  read      the file's bytes read once (`open(...).read()`): the floor
  1st start what a start does with --data before its first step (read, check, scan,
            hash, encode and cache, one batch), with an empty data folder
  2nd start the same again with the data folder the first left (corpus index, encoding)
  CLI       `charlm-tui --no-ui train --data FILE --preset tiny`, an empty data folder,
            from the process's start to its first step record, and the same on 1 kB

Targets: 1st/read ≤ 3x, 2nd/1st ≤ 0.2x, peak memory added ≤ 2x the file (the model
is apart: the 1 kB CLI run's peak). The file sits in the page cache for every side, so
the read runs at memory speed: the strictest floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SHARED, machine, table

MB = 1_000_000
MIXED_LINE = "Быть или не быть — 生きるべきか死ぬべきか 🎭\n".encode()


def source_text() -> bytes:
    if SHARED.is_file():
        return SHARED.read_bytes()
    from charlm_tui.core.text.corpus import load_corpus

    return load_corpus("shakespeare").utf8()


def make_corpus(path: Path, size: int, mixed: bool) -> None:
    """`size` bytes of copies of the source (cut at a line), written a copy at a time."""
    unit = source_text()
    if mixed:
        lines = unit.splitlines(keepends=True)
        unit = b"".join(line + MIXED_LINE if i % 60 == 59 else line for i, line in enumerate(lines))
    with path.open("wb") as f:
        left = size
        while left > 0:
            piece = unit[:left]
            if len(piece) < len(unit):
                piece = piece[: piece.rfind(b"\n") + 1] or b"\n"
            f.write(piece)
            left -= len(unit)


def child(what: str, path: str) -> None:
    """In a fresh process, imports done: the seconds of `what` and the RSS it added at
    its peak (ru_maxrss after, less the RSS before), as JSON on stdout."""
    import json
    import resource

    from charlm_tui.core.text.corpus import load_corpus
    from charlm_tui.core.text.dataset import BatchSampler, make_dataset

    before = _rss()
    started = time.perf_counter()
    if what == "read":
        with open(path, "rb") as f:
            f.read()
    else:  # what a start does with --data before its first step: read, scan, encode, batch
        dataset = make_dataset(load_corpus(path), 0.1)
        BatchSampler(dataset.train, 64, 32, seed=1337).next(0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "added": peak - before}))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def in_process(what: str, corpus: Path, data_dir: Path) -> tuple[float, int]:
    import json

    env = {**os.environ, "CHARLM_DATA_DIR": str(data_dir)}
    out, _ = run([sys.executable, __file__, "--child", what, str(corpus)], env)
    got = json.loads(out)
    return got["seconds"], got["added"]


def run(argv: list[str], env: dict[str, str], first_step: Path | None = None) -> tuple[str, int]:
    """Run to the end; (its stdout, or with first_step, the metrics file to watch, the
    seconds from the start to its first step record; the peak RSS in bytes)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=err)
        seen: float | None = None
        while True:  # os.wait4, not Popen.wait: it gives the child's peak RSS
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if first_step is not None and seen is None:
                try:
                    if b'"event": "step"' in first_step.read_bytes():
                        seen = time.perf_counter() - started
                except OSError:
                    pass
            time.sleep(0.005)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(argv[:6])} failed: {err.read().decode()[-600:]}")
        text = out.read().decode()
    peak = usage.ru_maxrss * 1024
    if first_step is not None:
        return str(seen if seen is not None else time.perf_counter() - started), peak
    return text, peak


def cli(corpus: Path, data_dir: Path, out: Path) -> tuple[float, int]:
    """The user's view: `charlm-tui --no-ui train` from its start to its first step
    record (seconds; the process's peak RSS)."""
    env = {**os.environ, "CHARLM_DATA_DIR": str(data_dir), "CHARLM_RUNS_DIR": str(out.parent)}
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "charlm_tui", "--no-ui", "train", "--data", str(corpus),
            "--preset", "tiny", "--max-iters", "2", "--out", str(out)]  # fmt: skip
    seconds, peak = run(argv, env, first_step=out / "metrics.jsonl")
    return float(seconds), peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000", help="corpus sizes in MB")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--mixed", action="store_true", help="non-ASCII lines throughout")
    ap.add_argument("--child", nargs=2, metavar=("WHAT", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        tiny = tmp / "tiny.txt"
        make_corpus(tiny, 1000, args.mixed)
        run_dir = tmp / "runs" / "run"
        for size_mb in (int(s) for s in args.sizes.split(",")):
            corpus = tmp / f"corpus-{size_mb}MB.txt"
            make_corpus(corpus, size_mb * MB, args.mixed)
            size = corpus.stat().st_size
            sides = ("read", "first", "second", "cli", "cli tiny")
            seconds: dict[str, list[float]] = {k: [] for k in sides}
            added: dict[str, list[int]] = {k: [] for k in sides}
            for r in range(args.rounds):  # in turns: read, first, second, cli, cli tiny, read...
                data_dir = tmp / f"data-{size_mb}-{r}"
                for name, fn in (
                    ("read", lambda c=corpus, d=data_dir: in_process("read", c, d)),
                    ("first", lambda c=corpus, d=data_dir: in_process("start", c, d)),
                    ("second", lambda c=corpus, d=data_dir: in_process("start", c, d)),
                    ("cli", lambda c=corpus, d=data_dir: cli(c, Path(f"{d}-cli"), run_dir)),
                    ("cli tiny", lambda: cli(tiny, tmp / "data-tiny", run_dir)),
                ):
                    t, mem = fn()
                    seconds[name].append(t)
                    added[name].append(mem)
                for d in (data_dir, Path(f"{data_dir}-cli")):
                    shutil.rmtree(d, ignore_errors=True)
            med = {k: statistics.median(v) for k, v in seconds.items()}
            top = {k: max(v) for k, v in added.items()}
            rows.append([
                f"{size / MB:,.0f} MB", f"{med['read']:.3f} s", f"{med['first']:.3f} s",
                f"{med['second']:.4f} s", f"{med['first'] / med['read']:.1f}x",
                f"{med['second'] / med['first']:.3f}x",
                f"{top['first'] / size:.2f}x", f"{top['second'] / size:.2f}x",
                f"{med['cli']:.2f} s", f"{med['cli tiny']:.2f} s",
                f"{(top['cli'] - top['cli tiny']) / size:.2f}x",
            ])  # fmt: skip
            corpus.unlink()
    print(machine())
    kind = "mixed (non-ASCII every 60 lines)" if args.mixed else "ASCII (tinyshakespeare copies)"
    print(f"{kind}; median of {args.rounds} rounds in turns (peaks: the highest)")
    heads = ["corpus", "read once", "1st start", "2nd start", "1st/read", "2nd/1st",
             "peak 1st/file", "peak 2nd/file", "CLI 1st step", "CLI, 1 kB",
             "CLI peak/file"]  # fmt: skip
    print(table(heads, rows))


if __name__ == "__main__":
    main()
