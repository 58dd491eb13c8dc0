"""Shared fixtures: a small generated corpus and isolated data/run folders.

Nothing here reads ../shared or the network: corpora are generated from a seed.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.waiting import wait_until

WORDS = [
    "the",
    "king",
    "queen",
    "lord",
    "lady",
    "love",
    "death",
    "night",
    "day",
    "sweet",
    "fair",
    "good",
    "my",
    "thy",
    "thou",
    "art",
    "and",
    "of",
    "to",
    "in",
    "that",
    "is",
    "not",
    "with",
    "be",
    "his",
    "her",
    "heart",
    "eyes",
    "blood",
    "crown",
    "sword",
    "speak",
    "come",
]
SPEAKERS = ("ROMEO", "JULIET", "KING HENRY", "First Witch", "HAMLET")


def make_text(n_chars: int, seed: int = 0) -> str:
    """Play-shaped text: speakers, lines of words, punctuation."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        speech = [f"{rng.choice(SPEAKERS)}:"]
        for _ in range(rng.randint(1, 4)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
            words[0] = words[0].capitalize()
            speech.append(" ".join(words) + rng.choice(",.;!?"))
        block = "\n".join(speech) + "\n\n"
        out.append(block)
        size += len(block)
    return "".join(out)[:n_chars]


@pytest.fixture(autouse=True)
def _isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("CHARLM_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("CHARLM_RUNS_DIR", str(tmp_path_factory.getbasetemp() / "runs"))
    monkeypatch.setenv("NO_COLOR", "1")
    torch.manual_seed(0)
    yield
    _stop_trainers_left_behind()


def _stop_trainers_left_behind() -> None:
    """A dashboard's training child outlives its app by design ("quit, keep training"):
    a test that fails before stopping its 100,000-step run would leave it training for
    the rest of the session, slowing every later test (2 cores) into timeouts. Stop any
    still running: SIGTERM, then SIGKILL if it has not exited within 5 seconds."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    me = str(os.getpid())
    for entry in proc.iterdir():
        try:
            stat = (entry / "stat").read_text()
            ppid = stat.rsplit(")", 1)[1].split()[1]
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and b"charlm_tui" in cmdline and b"train" in cmdline:
            pid = int(entry.name)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)  # saves and exits (README: What happens if…)
                try:
                    wait_until(
                        lambda pid=pid: os.waitpid(pid, os.WNOHANG)[0] != 0,
                        f"training process {pid} to exit after SIGTERM",
                        timeout=5.0,
                    )
                except AssertionError:
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text(make_text(30_000), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_args(corpus_file: Path) -> list[str]:
    """CLI options for a training run of a second or two."""
    return [
        "--data",
        str(corpus_file),
        "--preset",
        "tiny",
        "--max-iters",
        "30",
        "--eval-interval",
        "10",
        "--sample-interval",
        "15",
        "--sample-chars",
        "20",
    ]
