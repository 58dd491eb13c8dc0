"""Inspection (core): per-character losses, attention, next-character view, `inspect` CLI.

Per-character losses tied to eval, attention that sums to 1 and never looks ahead, the
next-character view's sampled and raw probabilities, characters drawn visibly, and the
`inspect` command."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.cells import cell_len

from charlm_tui.core.config import build_configs, replace, to_dict
from charlm_tui.core.decoding.evaluate import evaluate_split
from charlm_tui.core.decoding.inspect import (
    ATTENTION,
    SURPRISE,
    char_label,
    inspect_text,
    next_char_choices,
    no_internals,
    visible_char,
)
from charlm_tui.core.decoding.options import SamplingParams, Source
from charlm_tui.core.decoding.sampling import filter_logits
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model, count_params
from charlm_tui.core.models.checkpoint import FORMAT, save_checkpoint
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training.state import TrainState
from charlm_tui.tui.cli import run
from tests.conftest import make_text

TEXT = make_text(4000, seed=5)
VOCAB = Vocab.from_text(TEXT)
SHAPES = {
    "gpt": {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 16},
    "gpt-rope": {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 16, "position": "rope"},
    "lstm": {"model": "lstm", "n_layer": 2, "n_embd": 16, "block_size": 16},
    "gru": {"model": "gru", "n_layer": 1, "n_embd": 16, "block_size": 16},
    "mlp": {"model": "mlp", "n_embd": 8, "block_size": 6},
    "bigram": {"model": "bigram", "block_size": 16},
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make(name: str, vocab: Vocab = VOCAB, seed: int = 0):
    over = dict(SHAPES[name])
    over.setdefault("model", "gpt")
    mcfg, _ = build_configs("tiny", over)
    torch.manual_seed(seed)
    return build_model(replace(mcfg, vocab_size=len(vocab))).eval(), mcfg.block_size


def checkpoint(tmp: Path, text: str, name: str = "gpt", corpus: Path | None = None) -> Path:
    """A run's best.pt for a model of `text`'s vocabulary, untrained (seeded)."""
    vocab = Vocab.from_text(text)
    over = {k: v for k, v in SHAPES[name].items() if k != "model"}
    model_name = SHAPES[name].get("model", "gpt")
    mcfg, tcfg = build_configs("tiny", dict(model=model_name, data=str(corpus or "x"), **over))
    mcfg.vocab_size = len(vocab)
    torch.manual_seed(0)
    model = build_model(mcfg)
    config = to_dict(mcfg, tcfg)
    config.update(n_params=count_params(model), vocab_size=len(vocab))
    state = TrainState.new(tcfg.seed)
    ckpt = {"format": FORMAT, "model": model.state_dict(), "config": config,
            "vocab": vocab.chars, **state.checkpoint(0.0)}  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, tmp / "best.pt")
    return tmp / "best.pt"


# -- the known answer: eval's loss -----------------------------------------------------------


@pytest.mark.parametrize("name", list(SHAPES))
def test_mean_loss_is_evals_on_a_multiple_of_block_size(name: str) -> None:
    model, block = make(name)
    text = TEXT[: 9 * block]
    ins = inspect_text(model, VOCAB, text, block, batch_size=4)
    ev = evaluate_split(model, np.array(VOCAB.encode(text)), block)
    assert ins.n_scored == ev.n_tokens == len(text) - 1
    assert ins.mean_loss == pytest.approx(ev.loss, abs=1e-5)
    assert np.isnan(ins.loss[0]) and np.isfinite(ins.loss[1:]).all()


def test_mean_loss_is_evals_on_any_length_and_batch() -> None:
    model, block = make("gpt")
    for n in (2, 17, 100, 333):
        text = TEXT[:n]
        ev = evaluate_split(model, np.array(VOCAB.encode(text)), block)
        for batch in (1, 3, 32):
            ins = inspect_text(model, VOCAB, text, block, batch_size=batch)
            assert ins.mean_loss == pytest.approx(ev.loss, abs=1e-5)


def test_probabilities_ranks_and_top5_agree() -> None:
    model, block = make("gpt")
    ins = inspect_text(model, VOCAB, TEXT[:200], block)
    with torch.inference_mode():
        ids = torch.tensor([VOCAB.encode(TEXT[:17])])
        probs = model(ids[:, :16])[0][0].softmax(-1)  # window 0 predicts characters 1..16
    for n in range(1, 17):
        p = probs[n - 1]
        target = VOCAB.stoi[TEXT[n]]
        assert ins.prob[n] == pytest.approx(float(p[target]), rel=1e-5)
        assert ins.rank[n] == 1 + int((p > p[target]).sum())
        assert [c for c, _ in ins.top(n)] == [VOCAB.chars[i] for i in p.topk(5).indices]
    assert np.allclose(ins.prob[1:], np.exp(-ins.loss[1:]))
    first = ins.rank[1:] == 1
    assert np.allclose(ins.prob[1:][first], ins.top_probs[1:][first, 0], rtol=1e-5)
    record = ins.record(5)
    assert set(record) >= {"char", "loss", "prob", "rank", "top5"} and len(record["top5"]) == 5


def test_too_short_or_unknown_text_is_refused() -> None:
    model, block = make("gpt")
    with pytest.raises(CharLMError, match="at least 2 characters"):
        inspect_text(model, VOCAB, "a", block)
    with pytest.raises(CharLMError, match=r"--text has 1 character.*'€'"):
        inspect_text(model, VOCAB, "the €", block, what="--text")


# -- attention: rows sum to 1, never look ahead, and are what SDPA weighs --------------------


@pytest.mark.parametrize("name", ["gpt", "gpt-rope"])
def test_attention_rows_sum_to_one_and_never_look_ahead(name: str) -> None:
    model, block = make(name)
    text = TEXT[:50]
    ins = inspect_text(model, VOCAB, text, block, internals=True, batch_size=2)
    assert sorted(ins.internals) == [0, 1, 2, 3]  # three full windows and the tail
    for r, internals in ins.internals.items():
        a = internals.values  # (layers, heads, T, T)
        T = min(block, len(text) - 1 - r * block)
        assert a.shape == (2, 2, T, T)
        assert np.allclose(a.sum(-1), 1.0, atol=1e-5)
        assert (np.triu(a, k=1) == 0).all()  # nothing after the query
    # Changing a later character changes no earlier row (and no loss before it).
    later = text[:30] + ("a" if text[30] != "a" else "b") + text[31:]
    other = inspect_text(model, VOCAB, later, block, internals=True)
    a, b = ins.internals[1].values, other.internals[1].values  # window 1: characters 16..31
    assert np.array_equal(a[:, :, :14], b[:, :, :14])  # queries at 16..29 never see 30
    assert not np.allclose(a[:, :, 14], b[:, :, 14])  # the query at 30 does
    assert np.array_equal(ins.loss[:30], other.loss[:30], equal_nan=True)  # 30 is the target


@pytest.mark.parametrize("name", ["gpt", "gpt-rope"])
def test_captured_weights_are_what_sdpa_applies(name: str) -> None:
    """c_proj(weights @ v) is the attention module's own (SDPA) output."""
    model, block = make(name)
    attn = model.blocks[1].attn
    seen = {}
    hook = attn.register_forward_hook(lambda m, i, o: seen.update(x=i[0], out=o))
    ids = torch.tensor([VOCAB.encode(TEXT[:block])])
    with torch.inference_mode():
        plain = model(ids)[0]
        with model.attention_capture() as take:
            captured = model(ids)[0]
            weights = take()
    hook.remove()
    assert torch.equal(plain, captured)  # capturing changes nothing
    B, T, C = seen["x"].shape
    with torch.inference_mode():
        v = attn.c_attn(seen["x"]).split(C, dim=2)[2].view(B, T, 2, -1).transpose(1, 2)
        y = (weights[1] @ v).transpose(1, 2).reshape(B, T, C)
        assert torch.allclose(attn.c_proj(y), seen["out"], atol=1e-5)
    assert all(a.shape == (1, 2, T, T) for a in weights) and len(weights) == 2


def test_attention_capture_leaves_the_model_as_it_was() -> None:
    model, _ = make("gpt")
    with model.attention_capture():
        pass
    assert all(b.attn.capture is None for b in model.blocks)


def test_weights_map_to_the_characters_a_prediction_read() -> None:
    model, block = make("gpt")
    ins = inspect_text(model, VOCAB, TEXT[:40], block)
    for n in (1, 5, 16, 17, 20, 39):
        w = ins.weights(n, model, layer=1)
        start = (n - 1) // block * block
        assert sorted(w) == list(range(start, n)) == list(ins.context(n))
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-5)
        head = ins.weights(n, model, layer=0, head=1)
        assert sum(head.values()) == pytest.approx(1.0, abs=1e-5)


# -- recurrent models: how far each character moved the state --------------------------------


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_state_change_is_the_rms_step_of_each_layer(name: str) -> None:
    model, block = make(name)
    text = TEXT[:33]
    ins = inspect_text(model, VOCAB, text, block, internals=True)
    ids = torch.tensor([VOCAB.encode(text[:block])])
    with torch.inference_mode():
        x = model.wte(ids)
        for i, layer in enumerate(model.layers):
            x, _ = layer(x)
            before = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
            rms = (x - before).square().mean(-1).sqrt()[0].numpy()
            assert np.allclose(ins.internals[0].values[i], rms, atol=1e-6)
    w = ins.weights(20, model, layer=0)
    assert sorted(w) == list(range(16, 20)) and all(v >= 0 for v in w.values())
    assert no_internals(model) == ""


@pytest.mark.parametrize("name", ["mlp", "bigram"])
def test_models_without_attention_say_so(name: str) -> None:
    model, block = make(name)
    ins = inspect_text(model, VOCAB, TEXT[:40], block, internals=True)
    assert ins.kind is None and ins.internals == {} and ins.weights(5, model, 0) == {}
    assert no_internals(model).startswith("attention does not apply")


# -- the next character: what sampling draws from ---------------------------------------------


def test_next_char_choices_are_sampling_after_filters_beside_raw() -> None:
    model, block = make("gpt")
    text = "KING HENRY:\nmy lord"
    raw_only = next_char_choices(model, VOCAB, text)
    assert all(c.sampled == c.raw for c in raw_only)
    with torch.inference_mode():
        logits = model(torch.tensor([VOCAB.encode(text)[-block:]]))[0][0, -1]
    top = logits.softmax(-1).topk(5)  # the model's five likeliest, read off its logits
    assert [c.char for c in raw_only] == [VOCAB.chars[i] for i in top.indices.tolist()]
    assert [c.raw for c in raw_only] == pytest.approx(top.values.tolist())
    for params in (SamplingParams(0.5), SamplingParams(1.3, top_k=3), SamplingParams(1, top_p=0.3)):
        choices = next_char_choices(model, VOCAB, text, params)
        expected = filter_logits(logits, params).softmax(-1)
        for c in choices:
            assert c.sampled == pytest.approx(float(expected[VOCAB.stoi[c.char]]), abs=1e-6)
            assert c.raw == pytest.approx(float(logits.softmax(-1)[VOCAB.stoi[c.char]]), abs=1e-6)
    top3 = next_char_choices(model, VOCAB, text, SamplingParams(1.0, top_k=3))
    assert sum(c.sampled for c in top3[:3]) == pytest.approx(1.0) and top3[3].sampled == 0
    greedy = next_char_choices(model, VOCAB, text, SamplingParams(0.0))
    assert [c.sampled for c in greedy] == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_next_char_refuses_a_prompt_generation_refuses() -> None:
    """Skipping unknown characters answered a question nobody asked."""
    model, _ = make("gpt")
    with pytest.raises(CharLMError, match=r"the prompt.*'\^'"):
        next_char_choices(model, VOCAB, "KING^")
    assert next_char_choices(model, VOCAB, "") == []


# -- every character drawn visibly -------------------------------------------------------------


def test_every_code_point_has_a_visible_form_of_its_own() -> None:
    """No control, format or zero-width character reaches the terminal raw, and every
    form takes at least one cell, so a character never vanishes or merges."""
    # Planes 0, 1 and 14 hold every kind there is; 2-3 are CJK ideographs, 15-16 private use.
    for o in [*range(0x20000), *range(0xE0000, 0xE1000), 0x20000, 0xF0000, 0x10FFFF]:
        form = visible_char(chr(o))
        assert cell_len(form) > 0 and form.isprintable(), hex(o)
    for o in [*range(0x09), *range(0x0B, 0x20), 0x7F, 0x9B, 0x200B, 0x200D, 0x202E, 0x2028, 0xFEFF]:
        assert visible_char(chr(o)).startswith("\\"), hex(o)


def test_labels_of_invisible_characters() -> None:
    assert char_label("\n") == "⏎ newline" and char_label(" ") == "␣ space"
    assert char_label("\u0301") == "◌\u0301 U+0301"  # a combining acute, on a dotted circle
    assert char_label("\x07") == "\\x07" and char_label("\x1b") == "\\x1b"
    assert char_label("\u200b") == "\\u200b"
    assert char_label("\U0001f3fd") == "\\U0001f3fd"  # a skin tone: merges with its emoji
    assert char_label("👍") == "👍" and char_label("é") == "é"


def test_scales_are_fixed() -> None:
    assert [SURPRISE.bin(b) for b in (0.1, 0.5, 1.5, 3, 5, 20)] == [0, 1, 2, 3, 4, 5]
    assert SURPRISE.style(float("nan")) == "" and ATTENTION.style(0.001) == ""
    assert " on #" in SURPRISE.style(3.0)


# -- where the text comes from --------------------------------------------------------------


def test_source_reads_a_split_slice(tmp_path: Path) -> None:
    corpus = tmp_path / "play.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    _, tcfg = build_configs("tiny", dict(data=str(corpus)))
    val = TEXT[len(TEXT) - round(len(TEXT) * tcfg.val_fraction) :]
    assert Source(start=10, length=50).read(VOCAB, tcfg) == val[10:60]
    assert Source(split="train", length=30).read(VOCAB, tcfg) == TEXT[:30]
    with pytest.raises(CharLMError, match="--start 5,000 is past the end of the val split"):
        Source(start=5000).read(VOCAB, tcfg)
    with pytest.raises(CharLMError, match="--length must be in"):
        Source(length=1).validate()
    with pytest.raises(CharLMError, match="--text or --file, not both"):
        Source(text="ab", file=corpus).validate()


# -- the command ---------------------------------------------------------------------------


def test_inspect_json_mean_is_evals_on_the_whole_split(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "play.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    ckpt = checkpoint(tmp_path / "run", TEXT, corpus=corpus)
    assert run(["eval", str(ckpt), "--json", "--device", "cpu"]) == 0
    ev = json.loads(capsys.readouterr().out)
    argv = ["--no-ui", "inspect", str(ckpt), "--length", "100000", "--format", "json"]
    assert run([*argv, "--device", "cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records, summary = lines[:-1], lines[-1]
    assert len(records) == ev["positions"] + 1 and records[0]["loss"] is None
    assert summary["mean_loss"] == pytest.approx(ev["loss"], abs=1e-5)
    assert summary["scored"] == ev["positions"]
    mean = np.mean([r["loss"] for r in records[1:]])
    assert mean == pytest.approx(ev["loss"], abs=1e-5)
    assert "".join(r["char"] for r in records) == TEXT[-len(records) :]
    r = records[7]
    assert r["prob"] == pytest.approx(np.exp(-r["loss"])) and r["rank"] >= 1
    assert [t["prob"] for t in r["top5"]] == sorted((t["prob"] for t in r["top5"]), reverse=True)


def test_inspect_ansi_escapes_control_characters(tmp_path: Path, capsys) -> None:
    hostile = "ab\x1b[31mred\x07\x1b]2;PWNED\x07 ok\u202e\n" * 3
    ckpt = checkpoint(tmp_path / "run", hostile)
    assert run(["--no-ui", "inspect", str(ckpt), "--text", hostile]) == 0
    out = capsys.readouterr().out
    assert "\x07" not in out and "PWNED\x07" not in out and "\u202e" not in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # our own colours, nothing else
    assert "\x1b" not in plain
    assert "\\x1b[31mred\\x07\\x1b]2;PWNED\\x07 ok\\u202e⏎" in plain
    assert "mean loss" in plain and "bits/char" in plain and "surprise, bits" in plain


def test_characters_the_model_never_saw_are_marked_and_the_rest_scored(
    tmp_path: Path, capsys
) -> None:
    ckpt = checkpoint(tmp_path / "run", TEXT)
    given = TEXT[:20] + "€" + TEXT[20:40] + "🎭"
    assert run(["--no-ui", "inspect", str(ckpt), "--text", given, "--format", "json"]) == 0
    *records, summary = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "".join(r["char"] for r in records) == TEXT[:40]  # scored without them
    assert summary["unseen"] == [{"position": 20, "char": "€"}, {"position": 41, "char": "🎭"}]
    assert run(["--no-ui", "inspect", str(ckpt), "--text", given]) == 0
    out = capsys.readouterr().out
    assert "2 character(s) left out, never seen by the model: '€', '🎭'" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert (TEXT[:20] + "€" + TEXT[20:40] + "🎭").replace("\n", "⏎\n") in plain  # in place


def test_no_color_is_honoured_unless_ansi_is_asked_for(tmp_path: Path, capsys) -> None:
    ckpt = checkpoint(tmp_path / "run", TEXT)  # the tests run with NO_COLOR=1 (conftest.py)
    assert run(["--no-ui", "inspect", str(ckpt), "--text", TEXT[:50]]) == 0
    assert "48;2;" not in capsys.readouterr().out  # no background colours
    assert run(["--no-ui", "inspect", str(ckpt), "--text", TEXT[:50], "--format", "ansi"]) == 0
    assert "48;2;" in capsys.readouterr().out  # an explicit flag beats the environment


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "ab", "--split", "train"], "leave them out with --text or --file"),
        (["--text", "ab", "--file", "x.txt"], "--text or --file, not both"),
        (["--text", "a"], "at least 2 characters"),
        (["--text", "€a€"], "needs at least 2 characters the model knows"),
        (["--length", "0"], "--length must be in"),
        (["--start", "-1"], "--start must be at least 0, not -1"),
        (["--start", "99999999"], "past the end of the val split"),
        (["--file", "missing.txt"], "cannot read missing.txt"),
        (["--file", "fifo"], "cannot read fifo: not a regular file"),  # never blocks
        (["--file", "/dev/zero"], "cannot read /dev/zero: not a regular file"),  # never ends
        (["--file", "huge.txt"], "--file huge.txt is 400,001 bytes: at most 400,000"),
        (["--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_inspect_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "huge.txt").write_bytes(b"a" * 400_001)  # sized before it is read
    corpus = tmp_path / "play.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    ckpt = checkpoint(tmp_path / "run", TEXT, corpus=corpus)
    assert run(["--no-ui", "inspect", str(ckpt), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_inspect_an_unknown_checkpoint(tmp_path: Path, capsys) -> None:
    assert run(["--no-ui", "inspect", str(tmp_path / "nope.pt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
