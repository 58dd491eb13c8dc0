"""The decoding child process: the text decoded here, stops on request, one-line failures.

core/decoding/decoder_process.py: the same text as decoding in this process, stops on
request, and fails with a one-line error, never a hang."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
import torch

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.decoding.decoder_process import DecoderProcess, serve
from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model
from charlm_tui.core.models.quant import decoder_for


def model_of(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(model=kind, vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return build_model(cfg).eval()


def in_process(model, ids, options: GenerateOptions, precision: str) -> list[tuple[int, float]]:
    chosen: list[float] = []
    g = torch.Generator().manual_seed(options.seed)
    decoder = decoder_for(model, precision)
    toks = list(generate(model, ids, options.max_new_tokens, options.params, g, decoder=decoder,
                         chosen=chosen))  # fmt: skip
    return list(zip(toks, chosen, strict=True))


def test_the_child_decodes_exactly_what_this_process_would() -> None:
    gpt, lstm = model_of("gpt"), model_of("lstm")
    options = GenerateOptions(max_new_tokens=80, seed=5, temperature=0.9, top_k=8)
    for model, precisions in ((gpt, ("int8", "fp32")), (lstm, ("fp32",))):
        child = DecoderProcess(model)
        try:
            weights = child.weights
            for precision in precisions:
                got = list(child.generate([1, 2, 3], options, precision))
                assert got == in_process(model, [1, 2, 3], options, precision)
            assert child.last_seconds > 0
            assert not weights.exists()  # the child deleted its copy of the weights
        finally:
            child.close()
        assert not child.alive


def test_stop_and_early_exit_leave_the_next_generation_exact() -> None:
    model = model_of("gpt")
    child = DecoderProcess(model)
    try:
        long = GenerateOptions(max_new_tokens=100_000, seed=1)
        seen = [0]
        for _ in child.generate([0], long, "fp32", cancelled=lambda: seen[0] >= 100):
            seen[0] += 1
        assert 100 <= seen[0] < 100_000  # stopped soon after asking (what was in flight)

        it = child.generate([0], long, "fp32")
        next(it)
        it.close()  # the caller walks away mid-generation: the child is stopped and drained

        short = GenerateOptions(max_new_tokens=40, seed=9)
        assert list(child.generate([4], short, "fp32")) == in_process(model, [4], short, "fp32")
    finally:
        child.close()


def test_a_dead_or_broken_child_is_a_one_line_error(tmp_path: Path) -> None:
    child = DecoderProcess(model_of("gpt"))
    try:
        mode = stat.S_IMODE(child.weights.stat().st_mode)
        assert mode == 0o600  # the weights' copy is private until the child deletes it
        child.proc.kill()
        child.proc.wait()
        with pytest.raises(CharLMError, match=r"^the decoder process exited with code -9$"):
            list(child.generate([0], GenerateOptions(max_new_tokens=5), "fp32"))
    finally:
        child.close()

    # The child's side of a file it cannot load: one "fatal" line, the file deleted.
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"not a checkpoint")
    out = io.StringIO()
    serve(bad, io.StringIO(""), out)
    assert "fatal" in json.loads(out.getvalue()) and not bad.exists()
