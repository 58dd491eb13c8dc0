"""The model zoo: Bengio's MLP, char-rnn's RNN / GRU / LSTM, beside the bigram and GPT.

Every model keeps makemore's contract (forward(idx, targets) -> (logits, loss), causal
windows, context_size), and the incremental ones share one decoding protocol
(core/models/protocol.py) with GPT.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from charlm_tui.core.config import ModelConfig, TrainConfig, build_configs, to_dict
from charlm_tui.core.decoding.inspect import next_char_choices
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model, count_params
from charlm_tui.core.models.checkpoint import FORMAT, load_checkpoint, restore_model
from charlm_tui.core.models.quant import decoder_for
from charlm_tui.core.runs.events import StepEvent
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training.optim import make_optimizer
from charlm_tui.tui.cli import run
from tests.train_helpers import new_training, resumed_training

ZOO = ("mlp", "rnn", "gru", "lstm")
RECURRENT = ("rnn", "gru", "lstm")
INCREMENTAL = ("mlp", "rnn", "gru", "lstm", "gpt")
ALL = ("bigram", *INCREMENTAL)
V, BLOCK = 11, 8


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Models this small gain nothing from a second thread, and on a shared machine
    each op's OpenMP barrier then waits for a busy core (10x slower steps here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make(name: str, std: float | None = 0.3, **kw) -> nn.Module:
    """A small model in eval mode; std: peaked random weights (None: its own init)."""
    shape = dict(vocab_size=V, block_size=BLOCK, n_layer=2, n_head=2, n_embd=16)
    torch.manual_seed(0)
    model = build_model(ModelConfig(model=name, **{**shape, **kw}))
    if std is not None:
        for p in model.parameters():
            nn.init.normal_(p, std=std)
    return model.eval()


# -- 1. learning -------------------------------------------------------------------------


def overfit(name: str, text: str, steps: int = 150) -> tuple[float, float, float]:
    """Train on windows of a periodic text: (loss at init, mean loss, last-position loss)."""
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text])
    cfg = ModelConfig(
        model=name, vocab_size=len(chars), block_size=BLOCK, n_layer=1, n_head=2, n_embd=32
    )
    torch.manual_seed(0)
    model = build_model(cfg)
    # The bigram is a zero-initialised table: it needs bigger steps to get anywhere.
    opt = torch.optim.AdamW(model.parameters(), lr=0.1 if name == "bigram" else 1e-2)
    all_windows = ids.unfold(0, BLOCK + 1, 1)  # (n, BLOCK + 1): every window once
    g = torch.Generator().manual_seed(0)

    def loss_of(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, loss = model(w[:, :-1], w[:, 1:])
        return loss, nn.functional.cross_entropy(logits[:, -1], w[:, -1])

    with torch.no_grad():
        init = float(loss_of(all_windows)[0])
    for _ in range(steps):
        batch = all_windows[torch.randint(len(all_windows), (16,), generator=g)]
        loss, _ = loss_of(batch)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    with torch.no_grad():
        mean, last = loss_of(all_windows)
    return init, float(mean), float(last)


@pytest.mark.parametrize("name", ALL)
def test_every_model_overfits_a_repeating_text(name: str) -> None:
    init, mean, _ = overfit(name, "abcdefgh" * 40)
    assert init > 1.5  # near ln 8 = 2.08: nothing is learned before training
    assert mean < 0.05  # every position: the next letter follows from the current one


@pytest.mark.parametrize("name", ALL)
def test_context_models_count_and_the_bigram_cannot(name: str) -> None:
    # After "a", the next letter is "a" or "b" depending on how many came before: only
    # a model reading more than one character can know. The last position of a window
    # has seen 8 characters, enough for all of them.
    _, mean, last = overfit(name, "aaaabbbb" * 40)
    if name == "bigram":
        assert last > 0.4  # 0.56 nats: a 3:1 guess after each letter
    else:
        assert last < 0.05
        # early positions (one, two, three characters seen) keep some ambiguity
        assert 0.1 < mean < 0.3


# -- 2. incremental decoding equals the full forward pass -------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_steps_and_chunks_equal_the_full_forward_pass(name: str) -> None:
    model = make(name)
    x = torch.randint(0, V, (1, 3 * BLOCK))  # longer than a window: MLP slides, RNN carries
    with torch.inference_mode():
        full, _ = model(x)
        cache = model.new_cache()
        prompt, _ = model(x[:, :5], cache=cache)
        steps = [model.step(int(t), cache) for t in x[0, 5:]]
        assert cache.length == 3 * BLOCK
        chunked = model.new_cache()
        parts = [model(x[:, a:b], cache=chunked)[0] for a, b in ((0, 7), (7, 8), (8, 24))]
        cache.reset()  # a reset cache is a new one
        again, _ = model(x, cache=cache)
    torch.testing.assert_close(prompt[0], full[0, :5], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.stack(steps), full[0, 5:], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=0)
    torch.testing.assert_close(again, full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", INCREMENTAL)
def test_cached_generation_equals_rereading_the_context(name: str) -> None:
    model, prompt = make(name), [1, 5, 2, 7, 3]
    for params, seed in ((SamplingParams(temperature=0.0), 0), (SamplingParams(1.0, 5), 3)):
        a = generate(model, prompt, 40, params, torch.Generator().manual_seed(seed))
        b = generate(
            model, prompt, 40, params, torch.Generator().manual_seed(seed), use_cache=False
        )
        assert list(a) == list(b)


def test_the_mlp_window_is_block_size_characters_with_blanks_before_the_text() -> None:
    model = make("mlp")
    x = torch.randint(0, V, (1, 2 * BLOCK))
    y = x.clone()
    y[0, 0] = (y[0, 0] + 1) % V
    with torch.inference_mode():
        lx, ly = model(x)[0], model(y)[0]
        # position 0 alone: the blank row, seven times, then x[0]
        blanks = torch.full((BLOCK - 1,), V)
        alone = model._logits(torch.cat([blanks, x[0, :1]]))
    assert not torch.allclose(lx[0, BLOCK - 1], ly[0, BLOCK - 1])  # x[0] is in its window
    assert torch.equal(lx[0, BLOCK:], ly[0, BLOCK:])  # and in no later one
    torch.testing.assert_close(alone, lx[0, 0], atol=1e-6, rtol=0)


# -- 3. parameter counts -----------------------------------------------------------------


def formula(name: str, V: int, T: int, L: int, C: int) -> int:
    head = C * V + V  # the zoo's heads have a bias
    if name == "bigram":
        return V * V
    if name == "mlp":  # V + 1 embeddings (the blank), T * C -> 4C tanh layer, head
        return (V + 1) * C + (T * C * 4 * C + 4 * C) + (4 * C * V + V)
    if name in RECURRENT:  # per gate: W_ih, W_hh (C x C) and two biases b_ih, b_hh
        gates = {"rnn": 1, "gru": 3, "lstm": 4}[name]
        return V * C + L * gates * (C * C + C * C + 2 * C) + head
    # gpt, learned positions, biases: per block 2 LayerNorms, qkv, proj, 4x MLP
    block = (
        2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (4 * C * C + 4 * C) + (4 * C * C + C)
    )
    return V * C + T * C + L * block + 2 * C + C * V


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("V", "T", "L", "C"), [(11, 8, 2, 16), (65, 50, 3, 24)])
def test_parameter_counts_match_their_formulas(name: str, V: int, T: int, L: int, C: int) -> None:
    model = build_model(
        ModelConfig(
            model=name,
            vocab_size=V,
            block_size=T,
            n_layer=L,
            n_head=2,
            n_embd=C,
            position="learned",
        )
    )
    assert count_params(model) == formula(name, V, T, L, C)


def test_zoo_presets_validate_and_build() -> None:
    # n_embd % n_head is checked for attention models only: 64 % 6 must not refuse mlp.
    sizes = {}
    for name in ZOO:
        mcfg, tcfg = build_configs(name)
        assert mcfg.model == name and tcfg.max_iters
        sizes[name] = count_params(build_model(ModelConfig(**{**vars(mcfg), "vocab_size": 65})))
    assert sizes == {"mlp": 283_329, "rnn": 82_753, "gru": 214_849, "lstm": 280_897}
    with pytest.raises(CharLMError, match="divisible by --n-head"):
        build_configs("tiny", {"n_embd": 30, "n_head": 4})  # still checked for gpt


# -- 4. causality ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_future_characters_never_change_past_logits(name: str) -> None:
    model = make(name)
    x = torch.randint(0, V, (2, BLOCK))
    y = x.clone()
    y[:, 5:] = (y[:, 5:] + 3) % V  # rewrite the future from position 5 on
    with torch.inference_mode():
        lx, ly = model(x)[0], model(y)[0]
        prefixes = [model(x[:, :k])[0] for k in (1, 3, BLOCK)]
    assert torch.allclose(lx[:, :5], ly[:, :5], atol=1e-6)
    assert not torch.allclose(lx[:, 5:], ly[:, 5:])
    # a window's prefix is a shorter window: position t sees the same characters
    for p in prefixes:
        torch.testing.assert_close(p, lx[:, : p.shape[1]], atol=1e-5, rtol=0)


# -- 5. generation -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_generation_is_seeded_and_outlives_the_window(name: str) -> None:
    model = make(name)

    def text(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return list(generate(model, [1, 2, 3], 30, SamplingParams(temperature=1.0), g))

    assert text(4) == text(4) and len(text(4)) == 30  # 33 characters > block_size 8
    assert text(4) != text(5)
    assert all(0 <= t < V for t in text(4))


class Spy:
    """Records a model's decoding: each forward pass's length, each step, its caches."""

    def __init__(self, model: nn.Module) -> None:
        self.reads: list[int] = []
        self.steps = 0
        self.caches: list = []
        forward, step, new_cache = model.forward, model.step, model.new_cache

        def spy_forward(idx: torch.Tensor, *args, **kw):
            self.reads.append(idx.shape[1])
            return forward(idx, *args, **kw)

        def spy_step(token: int, cache):
            assert isinstance(token, int)  # one character, never a sequence
            self.steps += 1
            return step(token, cache)

        def spy_new_cache(*args, **kw):
            self.caches.append(new_cache(*args, **kw))
            return self.caches[-1]

        model.forward, model.step, model.new_cache = spy_forward, spy_step, spy_new_cache


@pytest.mark.parametrize("name", INCREMENTAL)
@pytest.mark.parametrize("prompt_len", [3, 5 * BLOCK])
def test_decoding_reads_the_prompt_once_then_steps(name: str, prompt_len: int) -> None:
    model, n = make(name), 3 * BLOCK
    spy = Spy(model)
    prompt = [i % V for i in range(prompt_len)]
    assert len(list(generate(model, prompt, n, SamplingParams(1.0), torch.Generator()))) == n
    first = prompt_len if name in RECURRENT else min(prompt_len, BLOCK)
    assert spy.reads[0] == first and len(spy.caches) == 1
    if name == "gpt":  # the probe sees GPT's window re-fills: it counts what it should
        assert len(spy.reads) > 1 and spy.steps + len(spy.reads) == n
    else:
        # The prompt once, whatever its length (an RNN's state carries all of it, past
        # block_size); then one step per character, never a re-read: the cost of a
        # character does not grow with the text.
        assert spy.reads == [first] and spy.steps == n - 1
        assert spy.caches[0].length == first + n - 1


@pytest.mark.parametrize("name", ALL)
def test_next_char_choices_read_what_generation_reads(name: str) -> None:
    model = make(name)
    vocab = Vocab("abcdefghijk")
    text = "abcabdkjih" * 3  # 30 characters, past block_size
    top = [(c.char, c.raw) for c in next_char_choices(model, vocab, text, k=3)]
    assert len(top) == 3 and all(ch in vocab.stoi for ch, _ in top)
    assert top[0][1] >= top[1][1] >= top[2][1] > 0
    first = next(generate(model, vocab.encode(text), 1, SamplingParams(0.0), torch.Generator()))
    assert top[0][0] == vocab.chars[first]  # greedy generation picks the likeliest
    if name in RECURRENT:  # the whole text, through the carried state
        with torch.inference_mode():
            probs = model(torch.tensor([vocab.encode(text)]))[0][0, -1].softmax(-1)
        assert top[0][1] == pytest.approx(float(probs.max()), abs=1e-6)


@pytest.mark.parametrize("name", ZOO)
def test_int8_is_for_gpt_only(name: str) -> None:
    model = make(name)
    assert decoder_for(model, "auto") is None and decoder_for(model, "fp32") is None
    with pytest.raises(CharLMError, match=f"int8 applies to gpt models: {name} decodes in fp32"):
        decoder_for(model, "int8")


# -- optimizers and resume ---------------------------------------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_muon_leaves_the_zoo_on_adamw(name: str) -> None:
    # Muon takes the transformer blocks' matrices (`blocks.*`); the zoo has none, so
    # --optimizer muon trains it with AdamW alone, as it does the bigram.
    model = make(name, std=None).train()
    opt = make_optimizer(model, TrainConfig(optimizer="muon"), torch.device("cpu"))
    assert isinstance(opt, torch.optim.AdamW)
    x = torch.randint(0, V, (4, BLOCK))
    _, loss = model(x, x)
    loss.backward()
    opt.step()


@pytest.mark.parametrize("name", ["lstm", "mlp"])
def test_resume_is_exact_with_dropout(corpus_file: Path, tmp_path: Path, name: str) -> None:
    # Dropout masks follow (seed, rank, iteration) only if the model keeps no RNG state.
    half = 6  # the stop: halfway, where an eval and a sample fall too
    values = dict(model=name, n_layer=2, dropout=0.2, sample_chars=10)
    values.update(max_iters=2 * half, eval_interval=half, sample_interval=half)
    new_training(corpus_file, tmp_path / "a", **values).run()
    first = new_training(corpus_file, tmp_path / "b", **values)
    at_half = first.stop_when(lambda e: isinstance(e, StepEvent) and e.iter == half)
    assert first.run(at_half).iter == half
    second = resumed_training(tmp_path / "b")
    assert second.run().reason == "finished"
    a = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- 6. checkpoints ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "claimed", "message"),
    [
        ("lstm", "gru", "tensor 'layers.0.weight_ih_l0' has shape (128, 32)"),
        ("gru", "rnn", "has shape (96, 32), its config needs (32, 32)"),
        ("mlp", "lstm", "weights do not match its config"),
        ("lstm", "gpt", "weights do not match its config"),
    ],
)
def test_a_checkpoint_refuses_another_models_config(saved: str, claimed: str, message: str) -> None:
    shape = dict(vocab_size=V, block_size=BLOCK, n_layer=1, n_head=2, n_embd=32)
    weights = build_model(ModelConfig(model=saved, **shape)).state_dict()

    def ckpt(model: str) -> dict:
        config = to_dict(ModelConfig(model=model, **shape), TrainConfig())
        return dict(format=FORMAT, model=weights, config=config, vocab="abcdefghijk", iter=1)

    assert restore_model(ckpt(saved))[0].config.model == saved
    with pytest.raises(CharLMError, match=r"weights do not match|has shape") as err:
        restore_model(ckpt(claimed))
    assert message in str(err.value) and "\n" not in str(err.value)


# -- 7. the CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_train_sample_eval_through_the_cli(
    name: str, corpus_file: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    train = ["--no-ui", "train", "--data", str(corpus_file), "--model", name, "--preset", "tiny"]
    assert run([*train, "--max-iters", "20", "--out", str(out)]) == 0
    assert "done at iter 20" in capsys.readouterr().out
    sample = ["--no-ui", "sample", str(out), "--prompt", "KING", "--max-new-tokens", "60"]
    assert run([*sample, "--seed", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("KING") and len(text.rstrip("\n")) == 64
    assert run([*sample, "--seed", "3", "--precision", "fp32"]) == 0  # auto is fp32 here
    assert capsys.readouterr().out == text
    assert run([*sample, "--precision", "int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "int8 applies to gpt models" in err[0]
    assert run(["eval", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["positions"] == round(30_000 * 0.1) - 1
    n_chars = len(load_checkpoint(out / "last.pt")["vocab"])
    assert 0 < result["loss"] < math.log(n_chars)  # 20 steps beat a uniform guess
