"""Checkpoints: exact round trips, safe saves, truncated or foreign or crafted files refused."""

import os
import pickle
from pathlib import Path

import pytest
import torch

from charlm_tui.core.config import ModelConfig, TrainConfig, to_dict
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model
from charlm_tui.core.models.checkpoint import (
    FORMAT,
    load_checkpoint,
    load_model,
    restore_model,
    save_checkpoint,
)

VOCAB = "\n abcdefg"


def make_ckpt(**model_kw) -> dict:
    mcfg = ModelConfig(vocab_size=len(VOCAB), block_size=8, n_layer=1, n_head=2, n_embd=8)
    torch.manual_seed(0)
    model = build_model(mcfg)
    state = {
        "format": FORMAT,
        "model": model.state_dict(),
        "config": to_dict(mcfg, TrainConfig()),
        "vocab": VOCAB,
        "iter": 3,
    }
    state.update(model_kw)
    return state


def test_round_trip_gives_identical_logits(tmp_path: Path) -> None:
    state = make_ckpt()
    save_checkpoint(state, tmp_path / "a.pt")
    model, vocab, ckpt = load_model(tmp_path / "a.pt")
    original = build_model(ModelConfig(**state["config"]["model"]))
    original.load_state_dict(state["model"])
    x = torch.randint(0, len(VOCAB), (2, 8))
    assert torch.equal(model.eval()(x)[0], original.eval()(x)[0])
    assert vocab.chars == VOCAB and ckpt["iter"] == 3


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(make_ckpt(iter=1), path)
    before = path.read_bytes()

    def torch_save_dies_halfway(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", torch_save_dies_halfway)
    with pytest.raises(OSError):
        save_checkpoint(make_ckpt(iter=2), path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["iter"] == 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_truncated_checkpoint(tmp_path: Path) -> None:
    save_checkpoint(make_ckpt(), tmp_path / "a.pt")
    data = (tmp_path / "a.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CharLMError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "t.pt")


def test_random_bytes_and_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "r.pt").write_bytes(os.urandom(3000))
    with pytest.raises(CharLMError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "r.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "f.pt")
    with pytest.raises(CharLMError, match="not a charlm-tui checkpoint"):
        load_checkpoint(tmp_path / "f.pt")


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_that_would_run_code_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": FORMAT, "x": RunsCode()}, f, protocol=2)
    torch.save({"format": FORMAT, "x": RunsCode()}, tmp_path / "evil2.pt")
    for name in ("evil.pt", "evil2.pt"):
        with pytest.raises(CharLMError, match=r"refused to load.*\(posix.system\)"):
            load_checkpoint(tmp_path / name)
    assert not (tmp_path / "PWNED").exists()


def test_shape_and_vocab_mismatches_are_named(tmp_path: Path) -> None:
    bad = make_ckpt()
    bad["model"]["wte.weight"] = torch.zeros(5, 8)
    with pytest.raises(CharLMError, match=r"'wte.weight' has shape \(5, 8\), its config needs"):
        restore_model(bad)
    bad = make_ckpt(vocab="abc")
    with pytest.raises(CharLMError, match=r"vocabulary has 3 characters but the config says 9"):
        restore_model(bad)
    bad = make_ckpt()
    del bad["model"]["ln_f.weight"]
    with pytest.raises(CharLMError, match=r"missing 'ln_f\.weight'"):
        restore_model(bad)
    bad = make_ckpt()
    bad["model"]["wte.weight"][0, 0] = float("nan")
    with pytest.raises(CharLMError, match="NaN"):
        restore_model(bad)


def test_run_directory_stands_for_best_then_last(tmp_path: Path) -> None:
    from charlm_tui.core.runs.rundir import checkpoint_path

    save_checkpoint(make_ckpt(iter=5), tmp_path / "last.pt")
    assert load_checkpoint(checkpoint_path(tmp_path))["iter"] == 5
    save_checkpoint(make_ckpt(iter=4), tmp_path / "best.pt")
    assert load_checkpoint(checkpoint_path(tmp_path))["iter"] == 4
    (tmp_path / "empty").mkdir()
    with pytest.raises(CharLMError, match="holds no checkpoint"):
        checkpoint_path(tmp_path / "empty")
    with pytest.raises(CharLMError, match="is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path)  # the run directory is the caller's to resolve
    with pytest.raises(CharLMError, match="no such checkpoint file"):
        load_checkpoint(checkpoint_path(tmp_path / "missing.pt"))


def test_an_exported_folder_loads_like_its_checkpoint(tmp_path: Path) -> None:
    from charlm_tui.core.models.exported import export_model
    from charlm_tui.core.runs.rundir import checkpoint_path

    save_checkpoint(make_ckpt(iter=7), tmp_path / "best.pt")
    model, vocab, ckpt = load_model(tmp_path / "best.pt")
    export_model(ckpt, model, vocab, tmp_path / "export")
    assert checkpoint_path(tmp_path / "export") == tmp_path / "export"
    again, vocab_again, described = load_model(tmp_path / "export")
    assert vocab_again == vocab and described["iter"] == 7
    x = torch.randint(0, len(VOCAB), (2, 8))
    assert torch.equal(again.eval()(x)[0], model.eval()(x)[0])
    # A run folder holding an export too still stands for its checkpoint.
    export_model(ckpt, model, vocab, tmp_path)
    assert checkpoint_path(tmp_path) == tmp_path / "best.pt"
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CharLMError, match=r"no checkpoint \(best.pt or last.pt\) and no export"):
        checkpoint_path(tmp_path / "nothing")
