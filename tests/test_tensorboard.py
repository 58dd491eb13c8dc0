"""TensorBoard: event files written live and by `export`, read back; without it, one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from charlm_tui.core.runs.listing import load_runs
from charlm_tui.core.runs.rundir import TENSORBOARD
from charlm_tui.tui.cli import run


def test_without_tensorboard_one_line_says_how_to_install_it(
    tiny_args, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr("charlm_tui.core.interop.tensorboard.available", lambda: False)
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "charlm-tui[tensorboard]"' in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written


def _scalars(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    return {"scalars": scalars, "tensors": acc.Tags()["tensors"], "plugins": acc.PluginAssets}


def test_tensorboard_event_files_read_back(tiny_args, tmp_path: Path, capsys) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--tensorboard"]) == 0
    capsys.readouterr()
    live = _scalars(out / TENSORBOARD)["scalars"]
    for tag in ("loss/train", "loss/val", "top1/val", "top5/val", "bpc/val", "opt/lr"):
        assert tag in live, tag
    for tag in ("opt/grad_norm", "speed/tokens_per_s", "train/step_loss", "best/val_loss"):
        assert tag in live, tag
    assert [s for s, _ in live["loss/val"]] == [0, 10, 20, 30]
    evals = [e for e in load_runs([out])[0].evals]
    assert [v for _, v in live["loss/val"]] == pytest.approx([e.val.loss for e in evals])
    tensors = _scalars(out / TENSORBOARD)["tensors"]
    assert any(t.startswith("sample") for t in tensors)
    assert any(t.startswith("config") for t in tensors)

    # the same run converted after the fact gives the same scalars
    assert run(["export", str(out), "--tensorboard"]) == 2  # already there
    assert "--overwrite" in capsys.readouterr().err
    assert run(["export", str(out), "--tensorboard", "--overwrite"]) == 0
    assert "tensorboard --logdir" in capsys.readouterr().out
    exported = _scalars(out / TENSORBOARD)["scalars"]
    assert exported["loss/val"] == pytest.approx(live["loss/val"])
    assert len(list((out / TENSORBOARD).glob("events.out.tfevents.*"))) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(out / TENSORBOARD))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["model.n_embd"].number_value == 32 and hp["train.preset"].string_value == "tiny"
    assert "_hparams_/session_end_info" in content  # the run ended


def _texts(folder: Path, tag: str) -> list[tuple[int, str]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    return [
        (e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors(f"{tag}/text_summary")
    ]


def test_steer_events_are_text_at_their_iteration(corpus_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from charlm_tui.core.interop.tensorboard import TensorBoardSink
    from charlm_tui.core.runs.control import write_control
    from charlm_tui.core.runs.events import StepEvent
    from tests.train_helpers import Collect, new_training

    out = tmp_path / "run"
    training = new_training(corpus_file, out, max_iters=12, eval_interval=6, sample_interval=0)

    def steer_at_4(event) -> None:
        if isinstance(event, StepEvent) and event.iter == 4:
            write_control(out, lr_scale=0.5)

    sink = TensorBoardSink(out)
    try:
        training.run(Collect(steer_at_4), sink)
    finally:
        sink.close()
    live = _texts(out / TENSORBOARD, "steer")
    assert live == [(4, "`lr_scale`: 1 → 0.5 (`control.json`)")]

    assert run(["export", str(out), "--tensorboard", "--overwrite"]) == 0
    assert _texts(out / TENSORBOARD, "steer") == live
