"""The 2-D map of a model's character embeddings (`inspect --embeddings`)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from charlm_tui.core.config import build_configs
from charlm_tui.core.decoding.embeddings import draw, embedding_map
from charlm_tui.core.models import build_model
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.tui.cli import run

VOCAB = Vocab.from_text("aeiou bcdfg\n\x1b日")


def model_with_clusters(name: str = "gpt") -> torch.nn.Module:
    """Vowels far along one direction, consonants the other way: the first component."""
    mcfg, _ = build_configs("tiny" if name == "gpt" else name, {})
    model = build_model(replace(mcfg, vocab_size=len(VOCAB)))
    table = model.wte if name != "bigram" else model.table
    torch.manual_seed(0)
    with torch.no_grad():
        table.weight.normal_(0, 0.01)
        for ch in "aeiou":
            table.weight[VOCAB.stoi[ch], 0] += 5.0
        for ch in "bcdfg":
            table.weight[VOCAB.stoi[ch], 0] -= 5.0
    return model


@pytest.mark.parametrize("name", ["gpt", "mlp", "lstm", "bigram"])
def test_the_first_component_separates_what_the_weights_separate(name: str) -> None:
    emap = embedding_map(model_with_clusters(name), VOCAB)
    assert emap is not None and emap.chars == tuple(VOCAB.chars)
    x = dict(zip(emap.chars, (p[0] for p in emap.xy), strict=True))
    vowels, consonants = [x[c] for c in "aeiou"], [x[c] for c in "bcdfg"]
    assert min(vowels) > 0 > max(consonants) or max(vowels) < 0 < min(consonants)
    assert emap.explained[0] > 0.9 and 0 <= emap.explained[1] <= emap.explained[0]
    again = embedding_map(model_with_clusters(name), VOCAB)
    assert again == emap  # the SVD's arbitrary signs are fixed: the same weights, one map


def test_the_drawing_shows_control_and_wide_characters_as_one_safe_cell() -> None:
    emap = embedding_map(model_with_clusters(), VOCAB)
    assert emap is not None
    lines = draw(emap, width=30, height=8)
    text = "\n".join(lines)
    assert len(lines) == 8 and all(len(line) <= 30 for line in lines)
    assert "\x1b" not in text and "日" not in text  # an escape and a 2-cell CJK: ·
    # Characters that fall on one cell show the later one: each cluster shows, apart.
    assert set(text) <= set("aeiou bcdfg⏎␣·+\n")
    cols = [line.find(c) for line in lines for c in line if c in "aeiou"]
    cons = [line.find(c) for line in lines for c in line if c in "bcdfg"]
    assert cols and cons
    assert min(cols) > max(cons) or max(cols) < min(cons)  # left and right of each other


def test_inspect_embeddings_prints_the_map_or_json(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    capsys.readouterr()
    assert run(["--no-ui", "inspect", str(out), "--embeddings"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("character embeddings, first two principal components")
    assert len(printed.splitlines()) == 25
    assert run(["--no-ui", "inspect", str(out), "--embeddings", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {p["char"] for p in data["points"]} >= set("the king")
    assert 0 < data["explained"][0] <= 1
    assert run(["--no-ui", "inspect", str(out), "--embeddings", "--lens", "--format", "json"]) == 2
    assert "give --embeddings or --lens, not both" in capsys.readouterr().err
