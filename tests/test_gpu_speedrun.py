"""bench/gpu_speedrun.py's plumbing, on CPU: `--cpu-smoke` runs both sides end to end.

Deterministic: a generated corpus, fixed seeds, and a target loose enough (10 nats) that
both sides stop at their first check whatever the losses are. 14 s on the shared 2-core
VM under load (three Python processes; both sides train on one thread).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_speedrun.py"


def test_cpu_smoke_runs_both_sides(corpus_file: Path) -> None:
    argv = [sys.executable, str(SCRIPT), "--cpu-smoke", "--data", str(corpus_file)]
    result = subprocess.run([*argv, "--target", "10"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "CPU SMOKE TEST" in out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # header, A, B
    assert "nanoGPT-style (A)" in rows[1] and "| 20 " in rows[1]  # stopped at the first check
    assert "(B)" in rows[2] and "| 20 " in rows[2]
    assert "textual was imported" not in out  # the GPU machine has no textual


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_fails_fast_in_one_line() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no CUDA GPU" in result.stderr
