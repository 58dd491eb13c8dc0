"""The CUDA path, tested where it can be on a CPU.

Which code runs where, in which dtype, and that the GPU's ways (device-resident batches,
losses read back every few steps) give the same training as the plain path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from charlm_tui.core.config import build_configs
from charlm_tui.core.runs.events import StepEvent
from charlm_tui.core.runs.rundir import RunDirectory
from charlm_tui.core.text.dataset import BatchSampler
from charlm_tui.core.training.distributed import DistInfo
from charlm_tui.core.training.optim import ns_dtype, orthogonalize
from charlm_tui.core.training.plan import plan_new
from charlm_tui.core.training.steering import Steering
from charlm_tui.core.training.step import autocast_for
from charlm_tui.core.training.trainer import build
from tests.train_helpers import Collect


def test_device_resident_batches_are_the_host_batches() -> None:
    data = np.random.default_rng(0).integers(0, 65, 5000).astype(np.uint8)
    host = BatchSampler(data, 32, 8, seed=3, resident=False)
    resident = BatchSampler(data, 32, 8, seed=3, resident=True)
    for it in (0, 1, 57):
        for a, b in zip(host.next(it), resident.next(it), strict=True):
            assert torch.equal(a, b) and b.dtype == torch.int64


def test_code_paths_by_device() -> None:
    assert ns_dtype(torch.device("cuda")) == torch.bfloat16
    assert ns_dtype(torch.device("cpu")) == torch.float32
    assert isinstance(autocast_for(torch.device("cpu")), type(autocast_for(torch.device("mps"))))
    assert BatchSampler(np.zeros(100, np.uint8), 8, 2, 0, "cpu").resident is False
    g = torch.randn(3, 64, 32)
    x32 = orthogonalize(g)
    x16 = orthogonalize(g, dtype=torch.bfloat16)  # the GPU's iteration, run on a CPU
    assert x16.dtype == torch.bfloat16
    # bf16 loses digits, not the result: singular values near 1 either way.
    s32, s16 = torch.linalg.svdvals(x32), torch.linalg.svdvals(x16.float())
    assert (s32 - s16).abs().max() < 0.1 and 0.5 < s16.min() and s16.max() < 1.6


def run_with(corpus: Path, out: Path, sync_every: int | None, **over) -> tuple[dict, list]:
    values = dict(data=str(corpus), max_iters=23, eval_interval=10, sample_interval=0)
    plan = plan_new("tiny", {**values, **over}, out)
    trainer = build(plan, DistInfo(), sync_every=sync_every)
    events = Collect()
    with RunDirectory(out) as run:
        run.claim(trainer.config_record(), 1, False, None, trainer.steered_values())
        trainer.run(Steering(run.path, DistInfo(), trainer.device), run, [events])
    return trainer.model.state_dict(), events.events


def test_reading_losses_back_every_few_steps_trains_the_same(corpus_file: Path, tmp_path) -> None:
    every, every_events = run_with(corpus_file, tmp_path / "a", sync_every=1)
    lazy, lazy_events = run_with(corpus_file, tmp_path / "b", sync_every=5)
    assert all(torch.equal(every[k], lazy[k]) for k in every)
    steps = {e.iter: e.loss for e in every_events if isinstance(e, StepEvent)}
    read = {e.iter: e.loss for e in lazy_events if isinstance(e, StepEvent)}
    assert set(read) == {5, 10, 15, 20} and all(read[i] == steps[i] for i in read)


def test_divergence_between_read_backs_is_caught_at_the_next(corpus_file, tmp_path) -> None:
    _, events = run_with(
        corpus_file, tmp_path / "a", sync_every=5, lr=1e6, min_lr=1e5, grad_clip=0.0, warmup_iters=0
    )
    done = events[-1]
    # steps 1-4 were not read back: the fifth finds the loss non-finite, and says which
    # steps it may have begun in
    assert done.reason == "diverged" and done.message.startswith("iterations 1-5: ")


def test_the_gpu_preset_is_a_valid_run() -> None:
    mcfg, tcfg = build_configs("gpu")
    assert tcfg.compile and tcfg.device == "auto" and mcfg.model == "gpt"


@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_asking_for_a_gpu_without_one_is_one_line(device: str, corpus_file, tmp_path) -> None:
    from charlm_tui.core.errors import CharLMError

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    plan = plan_new("tiny", dict(data=str(corpus_file), device=device), tmp_path / "r")
    with pytest.raises(CharLMError, match="torch sees no CUDA GPU"):
        build(plan, DistInfo())
