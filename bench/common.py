"""Shared helpers for the benchmarks: the corpus, the machine, a table printer."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def corpus() -> str:
    """tinyshakespeare when ../shared has it (the classic benchmark), else the built-in plays."""
    return str(SHARED) if SHARED.is_file() else "shakespeare"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        flags = " AVX-512" if "avx512f" in info else (" AVX2" if "avx2" in info else "")
    except OSError:
        pass
    return (
        f"{cpu}{flags}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def full_split_score(checkpoint: Path) -> dict[str, float]:
    """`charlm-tui eval CHECKPOINT --split val --json`: the full val split, as a user
    would score it (in a process of its own)."""
    argv = [sys.executable, "-m", "charlm_tui", "eval", str(checkpoint), "--split", "val"]
    result = subprocess.run([*argv, "--json"], check=True, cwd=ROOT, capture_output=True, text=True)
    return json.loads(result.stdout)
