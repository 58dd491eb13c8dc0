"""Optimizers: Muon's orthogonalization, who gets which optimizer, and that it learns."""

from __future__ import annotations

import pytest
import torch

from charlm_tui.core.config import ModelConfig, build_configs
from charlm_tui.core.models import build_model
from charlm_tui.core.training.optim import (
    NS_COEFFS,
    Muon,
    Optimizers,
    hidden_matrices,
    make_optimizer,
    orthogonalize,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize("shape", [(3, 64, 64), (2, 96, 32), (4, 32, 128)])
def test_orthogonalize_flattens_the_spectrum_and_keeps_the_directions(shape) -> None:
    g = torch.Generator().manual_seed(0)
    rows, cols = shape[1:]
    k = min(rows, cols)
    # Known singular vectors, singular values spread over two orders of magnitude.
    u = torch.linalg.qr(torch.randn(shape[0], rows, k, generator=g)).Q
    v = torch.linalg.qr(torch.randn(shape[0], cols, k, generator=g)).Q
    s = torch.logspace(0, -2, k)
    m = u @ torch.diag(s) @ v.mT
    o = orthogonalize(m)
    sv = torch.linalg.svdvals(o)
    assert sv.min() > 0.4 and sv.max() < 1.6  # the raw spectrum spans 0.01..1
    polar = u @ v.mT  # the exact orthogonal factor
    cos = (o * polar).sum(dim=(-2, -1)) / (o.norm(dim=(-2, -1)) * polar.norm(dim=(-2, -1)))
    assert (cos > 0.95).all()


def test_the_wide_shortcut_is_the_plain_iteration(shape=(3, 32, 160)) -> None:
    """Wide matrices iterate on n x n products only; that must not change the result."""
    a, b, c = NS_COEFFS
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    ref = x / x.norm(dim=(-2, -1), keepdim=True)
    for _ in range(5):
        gram = ref @ ref.mT
        ref = (a * torch.eye(shape[1]) + b * gram + c * gram @ gram) @ ref
    torch.testing.assert_close(orthogonalize(x), ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(orthogonalize(x.mT), ref.mT, rtol=1e-4, atol=1e-5)


def test_muon_gets_the_blocks_matrices_and_adamw_everything_else() -> None:
    mcfg, tcfg = build_configs("tiny", {"optimizer": "muon"})
    model = build_model(ModelConfig(**{**mcfg.__dict__, "vocab_size": 20}))
    opt = make_optimizer(model, tcfg, CPU)
    assert isinstance(opt, Optimizers) and isinstance(opt.parts["muon"], Muon)
    muon = {id(p) for g in opt.parts["muon"].param_groups for p in g["params"]}
    adam = {id(p) for g in opt.parts["adamw"].param_groups for p in g["params"]}
    assert muon == {id(p) for p in hidden_matrices(model)} and muon
    assert not muon & adam and muon | adam == {id(p) for p in model.parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in muon}
    assert all(n.startswith("blocks.") and n.endswith(".weight") for n in names)
    assert not any("ln_" in n for n in names)


def test_bigram_has_no_hidden_matrices_so_muon_means_adamw() -> None:
    mcfg, tcfg = build_configs("bigram", {"optimizer": "muon"})
    model = build_model(ModelConfig(**{**mcfg.__dict__, "vocab_size": 20}))
    assert isinstance(make_optimizer(model, tcfg, CPU), torch.optim.AdamW)


def test_muon_fits_a_linear_map_and_its_state_round_trips() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.randn(16, 32, generator=g)
    x = torch.randn(256, 32, generator=g)
    w = torch.nn.Parameter(torch.zeros(16, 32))
    opt = Muon([w], lr=0.2)
    losses = []
    for i in range(100):
        opt.param_groups[0]["lr"] = 0.2 * (1 - i / 100)  # decay: Muon's steps have fixed size
        loss = ((x @ w.T - x @ target.T) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]
    twin = torch.nn.Parameter(w.detach().clone())
    copy = Muon([twin], lr=0.2)
    copy.load_state_dict(opt.state_dict())
    assert torch.equal(copy.state[twin]["momentum_buffer"], opt.state[w]["momentum_buffer"])


def test_muon_refuses_vectors() -> None:
    with pytest.raises(ValueError, match="matrices only"):
        Muon([torch.nn.Parameter(torch.zeros(3))], lr=0.1)


def test_the_compiled_muon_step_is_the_eager_one() -> None:
    """--compile compiles the Newton-Schulz iteration (for a GPU's sake): the same
    updates as eager, two matrices of a shape batched together, to float rounding."""
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(8, 24, generator=g) for _ in range(2)]
    grads = [[torch.randn(8, 24, generator=g) for _ in range(2)] for _ in range(3)]
    trained = []
    for compiled in (False, True):
        ws = [torch.nn.Parameter(w.clone()) for w in start]
        opt = Muon(ws, lr=0.05, weight_decay=0.1, compiled=compiled)
        for step in grads:
            for w, grad in zip(ws, step, strict=True):
                w.grad = grad.clone()
            opt.step()
        trained.append(ws)
        assert (opt.orthogonalize is orthogonalize) != compiled  # compiled, not fallen back
    for eager, comp in zip(*trained, strict=True):
        torch.testing.assert_close(comp, eager, rtol=1e-5, atol=1e-5)
        assert not torch.equal(eager, start[0])
