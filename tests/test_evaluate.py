"""Evaluation: deterministic under dropout, eval mode restored, every position scored once."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.decoding.evaluate import estimate, evaluate_split, fixed_batches
from charlm_tui.core.models import build_model


def model_with_dropout() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.5)
    return build_model(cfg)


def hand_metrics(model: torch.nn.Module, windows: np.ndarray) -> tuple[float, float, float]:
    w = torch.from_numpy(windows)
    model.eval()
    with torch.no_grad():
        logits, _ = model(w[:, :-1])
    logits, y = logits.reshape(-1, 7), w[:, 1:].reshape(-1)
    loss = F.cross_entropy(logits, y).item()
    top1 = (logits.argmax(-1) == y).float().mean().item()
    top5 = (logits.topk(5, -1).indices == y[:, None]).any(-1).float().mean().item()
    return loss, top1, top5


def test_eval_with_dropout_is_deterministic_and_matches_hand_computation() -> None:
    model = model_with_dropout()
    model.train()
    data = np.random.default_rng(0).integers(0, 7, 500).astype(np.uint8)
    batches = fixed_batches(data, 8, 4, 3, seed=1)
    a = estimate(model, batches)
    b = estimate(model, batches)
    assert a == b  # dropout off: two evals of the same batches agree exactly
    assert model.training  # and the model is handed back in train mode
    loss, top1, top5 = hand_metrics(model, np.concatenate(batches))
    assert abs(a.loss - loss) < 1e-5
    assert abs(a.top1 - top1) < 1e-6 and abs(a.top5 - top5) < 1e-6
    assert abs(a.bpc - loss / np.log(2)) < 1e-5


def test_an_eval_with_a_time_limit_scores_the_first_batches_that_fit() -> None:
    model = model_with_dropout()
    data = np.random.default_rng(0).integers(0, 7, 500).astype(np.uint8)
    batches = fixed_batches(data, 8, 4, 6, seed=1)  # 6 batches of 4 windows of 8
    ticks = iter(range(100))  # a fake clock: one second a reading

    cut = estimate(model, batches, time_limit_s=2.5, clock=lambda: float(next(ticks)))
    assert cut is not None and cut.n_tokens == 3 * 4 * 8  # read at 0, then 1, 2, 3 > 2.5
    assert cut == estimate(model, batches[:3])  # the same first batches, every time
    later = iter(range(100))
    at_least_one = estimate(model, batches, time_limit_s=0.0, clock=lambda: float(next(later)))
    assert at_least_one is not None and at_least_one.n_tokens == 4 * 8
    assert estimate(model, batches).n_tokens == 6 * 4 * 8  # no limit: all of them


def test_eval_mode_is_restored_even_when_eval_fails() -> None:
    model = model_with_dropout()
    model.train()
    with pytest.raises(ValueError):
        estimate(model, [np.zeros((1, 20), dtype=np.int64)])  # too long for block_size 8
    assert model.training


def test_full_split_scores_every_position_once() -> None:
    model = model_with_dropout()
    data = np.random.default_rng(1).integers(0, 7, 8 * 5 + 4).astype(np.uint8)
    m = evaluate_split(model, data, block_size=8, batch_size=2)
    assert m.n_tokens == len(data) - 1
    # Hand computation: consecutive windows, the short tail last.
    model.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(data) - 1, 8):
            w = torch.from_numpy(data[start : start + 9].astype(np.int64))[None]
            logits, _ = model(w[:, :-1])
            total += F.cross_entropy(logits[0], w[0, 1:], reduction="sum").item()
    assert abs(m.loss - total / (len(data) - 1)) < 1e-5
