"""`import nanogpt`: a nanoGPT-format checkpoint (written here from its documented layout)
becomes a run whose model gives the same logits; every bad input refused in one line."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.models.checkpoint import load_model
from charlm_tui.core.runs.listing import load_runs
from charlm_tui.core.runs.rundir import checkpoint_path, read_config
from charlm_tui.tui.cli import run
from charlm_tui.tui.formatting import STATUS_WORDS
from tests.conftest import make_text

ARGS = dict(n_layer=2, n_head=2, n_embd=16, block_size=24, bias=True, vocab_size=0, dropout=0.0)


class RefBlock(nn.Module):
    """nanoGPT's block as its layout documents it: pre-LN, fused qkv, exact GELU."""

    def __init__(self, C: int, n_head: int, T: int, bias: bool) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(C, bias=bias)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.attn.c_proj = nn.Linear(C, C, bias=bias)
        # the causal mask buffer of versions without flash attention
        self.attn.register_buffer("bias", torch.tril(torch.ones(T, T)).view(1, 1, T, T))
        self.ln_2 = nn.LayerNorm(C, bias=bias)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.mlp.c_proj = nn.Linear(4 * C, C, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
        att = att.masked_fill(self.attn.bias[:, :, :T, :T] == 0, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn.c_proj(y)
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x))))


class RefGPT(nn.Module):
    def __init__(self, a: dict) -> None:
        super().__init__()
        C = a["n_embd"]
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(a["vocab_size"], C),
                wpe=nn.Embedding(a["block_size"], C),
                h=nn.ModuleList(
                    RefBlock(C, a["n_head"], a["block_size"], a["bias"])
                    for _ in range(a["n_layer"])
                ),
                ln_f=nn.LayerNorm(C, bias=a["bias"]),
            )
        )
        self.lm_head = nn.Linear(C, a["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, as nanoGPT ties them
        with torch.no_grad():  # random, and not LayerNorm's ones and zeros
            for p in self.parameters():
                p.normal_(0.0, 0.3)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = self.transformer
        x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1]))
        for block in t.h:
            x = block(x)
        return self.lm_head(t.ln_f(x))


def write_nanogpt(
    folder: Path, chars: list[str], compiled: bool = True, **changes: object
) -> tuple[RefGPT, Path]:
    """ckpt.pt and meta.pkl as nanoGPT's train.py and prepare.py write them."""
    torch.manual_seed(0)
    args = {**ARGS, "vocab_size": len(chars), **changes}
    ref = RefGPT(args).eval()
    prefix = "_orig_mod." if compiled else ""
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "model": {prefix + k: v for k, v in ref.state_dict().items()},
        "optimizer": torch.optim.AdamW(ref.parameters()).state_dict(),
        "model_args": args,
        "iter_num": 250,
        "best_val_loss": torch.tensor(1.4697),
        "config": {"dataset": "tiny_char", "batch_size": 12, "learning_rate": 1e-3,
                   "max_iters": 500, "gradient_accumulation_steps": 1, "compile": compiled},
    }  # fmt: skip
    torch.save(ckpt, folder / "ckpt.pt")
    meta = {
        "vocab_size": len(chars),
        "itos": dict(enumerate(chars)),
        "stoi": {c: i for i, c in enumerate(chars)},
    }
    with (folder / "meta.pkl").open("wb") as f:
        pickle.dump(meta, f)
    return ref, folder / "ckpt.pt"


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, list[str]]:
    text = make_text(3000, seed=4) + "é\r\n"  # a non-ASCII character; CR kept, as nanoGPT reads
    path = tmp_path / "input.txt"
    path.write_bytes(text.encode("utf-8"))
    return path, sorted(set(text))


def test_imported_model_gives_nanogpts_logits_and_samples(tmp_path: Path, corpus, capsys) -> None:
    data, chars = corpus
    ref, ckpt = write_nanogpt(tmp_path / "out-tiny", chars)
    out = tmp_path / "runs" / "imported"
    assert run(["import", "nanogpt", str(ckpt), "--out", str(out), "--data", str(data)]) == 0
    assert "iter 250" in capsys.readouterr().out

    model, vocab, saved = load_model(checkpoint_path(out))
    assert vocab.chars == "".join(chars) and saved["iter"] == 250
    assert model.config.position == "learned" and model.config.activation == "gelu"
    assert model.config.bias is True
    # nanoGPT's lr comes along; its compile (what its GPU box could do) does not
    train = json.loads((out / "config.json").read_text(encoding="utf-8"))["train"]
    assert train["lr"] == 1e-3 and train["compile"] is False
    ids = torch.randint(
        0, len(chars), (3, ARGS["block_size"]), generator=torch.Generator().manual_seed(1)
    )
    with torch.no_grad():
        theirs = ref(ids)
        ours, _ = model.eval()(ids)
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()

    sample = ["--no-ui", "sample", str(out), "--seed", "3", "--max-new-tokens", "40"]
    assert run([*sample, "--prompt", "KING"]) == 0
    first = capsys.readouterr().out
    assert run([*sample, "--prompt", "KING"]) == 0  # the same seed: the same text
    assert capsys.readouterr().out == first and first.startswith("KING") and len(first) > 40

    config = read_config(out)
    assert config is not None and config["corpus"]["spec"] == str(data)
    assert config["train"]["keep_crlf"] is True  # "\r" is one of its characters
    assert run(["--no-ui", "eval", str(out), "--json"]) == 0  # the corpus it recorded
    assert '"loss"' in capsys.readouterr().out

    view = load_runs([out])[0]
    assert view.status == "imported" and view.status in STATUS_WORDS and view.iter == 250
    assert view.done is not None and view.done.best_val_loss == pytest.approx(1.4697)
    assert view.n_params == sum(p.numel() for p in model.parameters())
    assert any("nanoGPT" in n.text for n in view.notes)


def test_characters_in_another_order_move_their_rows(tmp_path: Path, corpus, capsys) -> None:
    _, chars = corpus
    shuffled = chars[::-1]  # nanoGPT ids in reverse code-point order
    ref, ckpt = write_nanogpt(tmp_path / "o", shuffled, compiled=False, bias=False)
    (tmp_path / "data" / "tiny_char").mkdir(parents=True)  # where nanoGPT's prepare.py puts it
    (tmp_path / "o" / "meta.pkl").rename(tmp_path / "data" / "tiny_char" / "meta.pkl")
    out = tmp_path / "r"
    assert run(["import", "nanogpt", str(ckpt), "--out", str(out)]) == 0
    model, vocab, _ = load_model(checkpoint_path(out))
    theirs_ids = torch.tensor([[shuffled.index(c) for c in "KING: the"]])
    ours_ids = torch.tensor([vocab.encode("KING: the")])
    with torch.no_grad():
        theirs = ref(theirs_ids)[0]
        ours = model.eval()(ours_ids)[0][0]
    # column j of ours is character vocab.chars[j]; theirs orders them as `shuffled`
    theirs = theirs[:, [shuffled.index(c) for c in vocab.chars]]
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert "corpus is unknown" in capsys.readouterr().out
    assert run(["--no-ui", "eval", str(out)]) == 2  # no corpus recorded: it asks for one
    err = capsys.readouterr().err
    assert "--data" in err and len(err.strip().splitlines()) == 1


def one_line_error(argv: list[str], capsys) -> str:
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_gpt2_vocabulary_is_refused(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    args = {**ARGS, "vocab_size": 50304}
    torch.save({"model": {}, "model_args": args, "iter_num": 0, "config": {"dataset": "owt"}},
               folder / "ckpt.pt")  # fmt: skip
    err = one_line_error(
        ["import", "nanogpt", str(folder / "ckpt.pt"), "--out", str(tmp_path / "r")], capsys
    )
    assert "BPE" in err and "character" in err
    assert not (tmp_path / "r").exists()


def test_word_level_meta_is_refused(tmp_path: Path, capsys) -> None:
    _, ckpt = write_nanogpt(tmp_path / "o", ["a", "b", "the"])
    err = one_line_error(["import", "nanogpt", str(ckpt), "--out", str(tmp_path / "r")], capsys)
    assert "'the'" in err and "character-level" in err


def test_missing_meta_is_refused(tmp_path: Path, capsys) -> None:
    _, ckpt = write_nanogpt(tmp_path / "o", list("abc"))
    (tmp_path / "o" / "meta.pkl").unlink()
    err = one_line_error(["import", "nanogpt", str(ckpt)], capsys)
    assert "--meta" in err and "data/tiny_char/" in err


class Boom:
    """Unpickling it would call os.system (a classic pickle payload)."""

    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_pickle_with_a_global_is_refused_and_never_run(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ckpt = write_nanogpt(tmp_path / "o", list("abc"))
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"vocab_size": 3, "itos": Boom(), "stoi": {}}))
    monkeypatch.chdir(tmp_path)
    err = one_line_error(["import", "nanogpt", str(ckpt), "--meta", str(evil)], capsys)
    assert "system" in err and "refused" in err
    assert not (tmp_path / "PWNED").exists()
    # anything but dicts, strings and integers: refused too (a list, a float)
    evil.write_bytes(pickle.dumps({"vocab_size": 3.0, "itos": [], "stoi": {}}))
    err = one_line_error(["import", "nanogpt", str(ckpt), "--meta", str(evil)], capsys)
    assert "float" in err or "list" in err


def test_wrong_shapes_and_names_are_refused(tmp_path: Path, capsys) -> None:
    _, ckpt = write_nanogpt(tmp_path / "o", list("abcd"))
    saved = torch.load(ckpt, weights_only=True)
    saved["model"]["_orig_mod.transformer.h.1.mlp.c_fc.weight"] = torch.zeros(5, 16)
    torch.save(saved, ckpt)
    err = one_line_error(["import", "nanogpt", str(ckpt), "--out", str(tmp_path / "r")], capsys)
    assert "transformer.h.1.mlp.c_fc.weight" in err and "(64, 16)" in err

    saved["model"]["_orig_mod.transformer.h.1.mlp.c_fc.weight"] = torch.zeros(64, 16)
    saved["model"]["_orig_mod.transformer.h.0.attn.rotary.freqs"] = torch.zeros(4)
    torch.save(saved, ckpt)
    err = one_line_error(["import", "nanogpt", str(ckpt), "--out", str(tmp_path / "r")], capsys)
    assert "unexpected tensor" in err and "rotary" in err
    assert not (tmp_path / "r").exists()

    # A tiny file claiming 200 million layers: refused before any name is listed
    saved["model_args"] = {**saved["model_args"], "n_layer": 200_000_000}
    torch.save(saved, ckpt)
    err = one_line_error(["import", "nanogpt", str(ckpt), "--out", str(tmp_path / "r")], capsys)
    assert "model_args n_layer must be in [1, 256]" in err


def test_an_existing_folder_is_never_replaced(tmp_path: Path, capsys) -> None:
    _, ckpt = write_nanogpt(tmp_path / "o", list("abc"))
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    err = one_line_error(["import", "nanogpt", str(ckpt), "--out", str(out)], capsys)
    assert "not empty" in err and (out / "keep.txt").read_text() == "mine"


def test_full_eval_skips_an_import_without_its_corpus_and_scores_the_rest(
    tmp_path: Path, corpus, tiny_args: list[str], capsys
) -> None:
    _, chars = corpus
    _, ckpt = write_nanogpt(tmp_path / "o", chars)
    imported, ours = tmp_path / "imported", tmp_path / "ours"
    assert run(["import", "nanogpt", str(ckpt), "--out", str(imported)]) == 0  # no --data
    assert run(["--no-ui", "train", *tiny_args, "--out", str(ours)]) == 0
    capsys.readouterr()
    argv = ["--no-ui", "compare", str(imported), str(ours), "--full-eval", "--format", "json"]
    assert run(argv) == 0
    out, err = capsys.readouterr()
    assert "imported: not scored" in err and "--data" in err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["ours"]["val_source"] == "full" and rows["imported"]["val_source"] != "full"
