"""The compiled decode step: GPT.step's maths, built once per shape, the eager step's text.

core/models/compiled.py: its maths is GPT.step's, a package is built once per shape and
reused, and `sample --compile` writes the text the eager step writes."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
import torch

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.decoding.decoder_process import DecoderProcess
from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model
from charlm_tui.core.models.checkpoint import load_model
from charlm_tui.core.models.compiled import DecodeStep, compiled_decoder, make_decoder, package_name
from charlm_tui.core.models.quant import quantize_int8
from charlm_tui.tui.app import CharLMApp
from charlm_tui.tui.cli import run
from charlm_tui.tui.screens.generate import GenerateScreen
from tests.tui_helpers import fake_run, opened
from tests.waiting import wait_for

COMPILER = any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++"))
needs_compiler = pytest.mark.skipif(not COMPILER, reason="compiling needs a C++ compiler")


@pytest.mark.parametrize(
    "style",
    [
        dict(position="learned", activation="gelu"),
        dict(position="rope", activation="relu2", bias=False),
    ],
)
def test_the_fixed_shape_step_is_gpt_step_at_every_position(style: dict) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16, **style)
    model = build_model(cfg).eval()
    for weights in (model, quantize_int8(model)):
        eager, fixed = model.new_cache(), model.new_cache()
        step = DecodeStep(weights)
        with torch.inference_mode():
            for pos in range(cfg.block_size):  # the first position to the block's last
                token = (3 * pos + 1) % cfg.vocab_size
                want = weights.step(token, eager)
                got, new_k, new_v = step(torch.tensor(token), torch.tensor(pos), fixed.k, fixed.v)
                for i in range(cfg.n_layer):
                    fixed.k[i][0, :, pos], fixed.v[i][0, :, pos] = new_k[i], new_v[i]
                torch.testing.assert_close(got, want, atol=2e-6, rtol=1e-5)


def test_compile_refuses_what_it_cannot_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bigram = build_model(ModelConfig(model="bigram", vocab_size=5))
    with pytest.raises(CharLMError, match="--compile applies to gpt models: bigram"):
        make_decoder(bigram, "auto", compiled=True)
    gpt = build_model(ModelConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8))
    with pytest.raises(CharLMError, match="--compile decodes on the CPU"):
        make_decoder(gpt, "fp32", compiled=True, device="cuda")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CHARLM_DATA_DIR", str(blocker))  # data/decoders cannot be made
    with pytest.raises(CharLMError, match=r"^--compile cannot write .*a-file/decoders: Not a"):
        make_decoder(gpt, "fp32", compiled=True)


@needs_compiler
def test_sample_compile_builds_once_per_shape_and_writes_the_eager_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = fake_run(tmp_path, "gen") / "best.pt"
    model, vocab, _ = load_model(ckpt)
    monkeypatch.setenv("CHARLM_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "data" / "decoders"
    what, _ = package_name(model, "fp32")
    folder.mkdir(parents=True)
    stale = folder / f"decode-{what}-000000000000.pt2"  # built by an older version
    stale.write_bytes(b"old")

    args = ["--no-ui", "sample", str(ckpt), "--prompt", "KING", "--max-new-tokens", "80"]
    fp32 = [*args, "--precision", "fp32"]
    assert run(fp32) == 0
    eager = capsys.readouterr().out
    assert run([*fp32, "--compile"]) == 0
    first = capsys.readouterr()
    assert first.out == eager  # fp32 to ~1e-8 of the eager step: the same draws
    assert "compiling the decode step" in first.err
    (package,) = folder.glob("decode-*.pt2")  # built, and the stale one of its shape gone
    built_at = package.stat().st_mtime_ns
    assert run([*fp32, "--compile"]) == 0
    again = capsys.readouterr()
    assert again.out == eager and "compiling" not in again.err
    assert package.stat().st_mtime_ns == built_at  # loaded, not rebuilt

    # The decoding child process loads the same package (no note: nothing to build).
    notes: list[str] = []
    child = DecoderProcess(model)
    try:
        options = GenerateOptions(max_new_tokens=80, seed=1337, compile=True)
        got = child.generate(vocab.encode("KING"), options, "fp32", note=notes.append)
        text = "".join(vocab.chars[t] for t, _ in got)
    finally:
        child.close()
    assert "KING" + text + "\n" == eager and notes == []

    # The generate pane opened by `sample --compile` (int8: what --precision auto picks on
    # CPU): its child builds the int8 package, and the status line says so meanwhile.
    statuses: list[str] = []

    async def pane() -> None:
        app = CharLMApp(generate=(ckpt, GenerateOptions(max_new_tokens=40, compile=True)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await opened(pilot, app, GenerateScreen)
            assert "int8 weights · compiled step" in str(screen.query_one("#gen-label").render())
            await pilot.press("enter")
            status = screen.query_one("#gen-status")

            def generated() -> bool:
                statuses.append(str(status.render()))  # every status line seen meanwhile
                return not screen.running and bool(screen.output.text)

            await wait_for(pilot, generated, "the compiled generation to end", timeout=120)
            assert len(screen.output.text) == 40

    asyncio.run(pane())
    assert any(s.startswith("compiling the decode step") for s in statuses)
    assert statuses[-1].startswith("generated 40 characters")

    # int8 compiled rounds the MLP's bf16 activations at other points than the eager
    # step, so logits agree to rounding only; the package is the pane's (not rebuilt).
    quantized = quantize_int8(model)
    int8_package = folder / "decode-{}-{}.pt2".format(*package_name(quantized, "int8"))
    assert int8_package.is_file()
    compiled = compiled_decoder(model, quantized, "int8", folder, build=False)
    assert compiled is not None
    eager_cache, compiled_cache = model.new_cache(), model.new_cache()
    with torch.inference_mode():
        for token in vocab.encode("KING RICHARD"):
            want = quantized.step(token, eager_cache)
            torch.testing.assert_close(compiled.step(token, compiled_cache), want, atol=0.1, rtol=0)
