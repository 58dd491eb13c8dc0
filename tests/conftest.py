"""Shared fixtures: a small generated corpus and isolated data/run folders.

Nothing here reads ../shared or the network: corpora are generated from a seed.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

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
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARLM_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("CHARLM_RUNS_DIR", str(tmp_path_factory.getbasetemp() / "runs"))
    monkeypatch.setenv("NO_COLOR", "1")
    torch.manual_seed(0)


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
