"""The logit lens: what each layer of a GPT would guess, its last layer the model's own
prediction; `inspect --format json --lens`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from charlm_tui.core.config import build_configs
from charlm_tui.core.decoding.inspect import inspect_text, lens_probs, no_lens
from charlm_tui.core.models import build_model
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.tui.cli import run

TEXT = "the king and the queen of night, my lord; thy fair heart\n" * 4
VOCAB = Vocab.from_text(TEXT)


def gpt(position: str = "rope", n_layer: int = 3) -> tuple[torch.nn.Module, int]:
    mcfg, _ = build_configs("tiny", {"n_layer": n_layer, "position": position, "block_size": 16})
    torch.manual_seed(0)
    return build_model(replace(mcfg, vocab_size=len(VOCAB))).eval(), mcfg.block_size


@pytest.mark.parametrize("position", ["rope", "learned"])
def test_the_last_layer_of_the_lens_is_the_models_own_prediction(position: str) -> None:
    model, block = gpt(position)
    ids = torch.tensor([VOCAB.encode(TEXT[:block])])
    lens = lens_probs(model, ids)
    assert lens is not None and lens.shape == (3, block, len(VOCAB))
    with torch.no_grad():
        own = model(ids)[0][0].float().softmax(-1)
    assert torch.allclose(lens[-1], own, atol=1e-6)
    assert not torch.allclose(lens[0], own, atol=1e-3)  # earlier layers guess otherwise
    assert torch.allclose(lens.sum(-1), torch.ones(3, block))


def test_each_characters_lens_ends_in_its_own_top_choices_across_windows() -> None:
    model, block = gpt()
    result = inspect_text(model, VOCAB, TEXT[:50], block)  # windows of 16: three and a bit
    assert result.lens_of(0, model) is None
    for n in (1, 15, 16, 17, 33, 49):
        lens = result.lens_of(n, model)
        assert lens is not None and len(lens) == 3
        assert [c for c, _ in lens[-1]] == [c for c, _ in result.top(n)[:3]], n
        assert [p for _, p in lens[-1]] == pytest.approx([p for _, p in result.top(n)[:3]])


def test_models_without_a_residual_stream_have_no_lens() -> None:
    mcfg, _ = build_configs("mlp", {})
    model = build_model(replace(mcfg, vocab_size=len(VOCAB)))
    assert "a mlp model has none" in no_lens(model)
    assert lens_probs(model, torch.zeros(1, 4, dtype=torch.long)) is None
    assert no_lens(gpt()[0]) == ""


def test_inspect_json_carries_the_lens(
    tiny_args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert run(["--no-ui", "train", *tiny_args, "--n-layer", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    argv = ["--no-ui", "inspect", str(out), "--text", "the king", "--format", "json"]
    assert run([*argv, "--lens"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()][:-1]
    assert records[0]["lens"] is None
    for record in records[1:]:
        assert len(record["lens"]) == 2  # one guess list a block
        assert record["lens"][-1][0]["char"] == record["top5"][0]["char"]
    assert run([*argv[:-2], "--lens"]) == 2
    assert "--lens goes with --format json" in capsys.readouterr().err
