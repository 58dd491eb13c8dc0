"""The GPT and bigram models: causality, learned and rotary positions, activations, init loss."""

import pytest
import torch

from charlm_tui.core.config import ModelConfig, build_configs
from charlm_tui.core.models import build_model, count_params, summarize


def gpt(**kw) -> torch.nn.Module:
    cfg = ModelConfig(
        **{
            **dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16),
            **dict(position="learned", activation="gelu"),  # GPT-2's choices unless asked
            **kw,
        }
    )
    torch.manual_seed(0)
    return build_model(cfg).eval()


VARIANTS = [
    {},
    {"position": "rope"},
    {"activation": "relu2"},
    {"position": "rope", "activation": "relu2", "bias": False},
]


@pytest.mark.parametrize("kw", VARIANTS)
def test_causality_future_tokens_do_not_change_past_logits(kw) -> None:
    model = gpt(**kw)
    x = torch.randint(0, 11, (2, 16))
    y = x.clone()
    y[:, 9:] = (y[:, 9:] + 3) % 11  # rewrite the future from position 9 on
    with torch.no_grad():
        lx, _ = model(x)
        ly, _ = model(y)
    assert torch.allclose(lx[:, :9], ly[:, :9], atol=1e-6)
    assert not torch.allclose(lx[:, 9:], ly[:, 9:])


@pytest.mark.parametrize("kw", VARIANTS)
def test_positions_follow_the_actual_sequence_length(kw) -> None:
    model = gpt(**kw)
    x = torch.randint(0, 11, (1, 16))
    with torch.no_grad():
        full, _ = model(x)
        short, _ = model(x[:, :5])
    # A short sequence is the prefix of a long one: same positions, same logits.
    assert torch.allclose(full[:, :5], short, atol=1e-6)
    with pytest.raises(ValueError, match="exceeds block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_rotary_attention_depends_on_offsets_not_positions() -> None:
    rotary = gpt(position="rope").blocks[0].attn.rotary
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(i: int, j: int) -> float:
        return float((rotary(q, i) * rotary(k, j)).sum())

    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)
    # a rotation: lengths are kept
    assert rotary(q, 7).norm() == pytest.approx(float(q.norm()), rel=1e-5)


def test_rotary_in_real_pairs_equals_the_complex_product() -> None:
    """Under torch.compile the rotation runs in real arithmetic (inductor has no complex
    dtype): the same numbers as eager's complex product, in fp32 and in bf16."""
    rotary = gpt(position="rope").blocks[0].attn.rotary
    x = torch.randn(3, 10, 2, 8)
    for start in (0, 5):
        assert torch.allclose(rotary.rotate_real(x, start), rotary(x, start), atol=1e-6)
    xb = x.bfloat16()
    assert rotary.rotate_real(xb, 2).dtype == torch.bfloat16
    assert torch.equal(rotary.rotate_real(xb, 2), rotary(xb, 2))


def test_relu_squared_gradient_is_written_out_and_exact() -> None:
    """Training runs ReLU squared through its own backward (2 relu(x)); it must be the
    derivative (gradcheck in float64) and give autograd's numbers bit for bit in fp32,
    with exact zeros where x <= 0; without grad it is the plain expression."""
    act = gpt(activation="relu2").blocks[0].mlp.act
    x64 = torch.randn(4, 6, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(act, (x64,))
    x = torch.randn(5, 32)
    x[0, :4] = 0.0  # relu's kink: both sides take the gradient there as 0
    g = torch.randn(5, 32)
    ours, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = act(ours)
    y.backward(g)
    expected = torch.nn.functional.relu(ref).square()
    expected.backward(g)
    assert y.grad_fn is not None and "ReLUSquared" in type(y.grad_fn).__name__
    assert torch.equal(y, expected) and torch.equal(ours.grad, ref.grad)
    assert torch.all(ours.grad[x <= 0] == 0)
    with torch.no_grad():
        assert torch.equal(act(x), expected.detach())


def test_rope_has_no_position_table_and_old_configs_mean_gpt2() -> None:
    names = dict(gpt(position="rope").named_parameters())
    assert "wpe.weight" not in names and "wpe.weight" in dict(gpt().named_parameters())
    from charlm_tui.core.config import from_dict, to_dict

    _, tcfg = build_configs("tiny")
    config = to_dict(ModelConfig(vocab_size=11), tcfg)
    for added in ("position", "activation"):  # a checkpoint saved without these options
        del config["model"][added]
    old, _ = from_dict(config)
    assert (old.position, old.activation) == ("learned", "gelu")
    with pytest.raises(ValueError, match="unknown activation"):
        gpt(activation="swish")


def test_seed_preset_is_the_3_7m_parameter_model() -> None:
    mcfg, _ = build_configs("seed")
    model = build_model(ModelConfig(**{**mcfg.__dict__, "vocab_size": 65}))
    assert round(count_params(model) / 1e6, 1) == 3.7
    rows = summarize(model)
    assert sum(r.params for r in rows) == count_params(model)
    assert [r.name for r in rows if r.kind == "Block"] == ["blocks.0", "blocks.1"]


def test_loss_at_init_is_near_uniform() -> None:
    model = gpt(vocab_size=65)
    x = torch.randint(0, 65, (4, 16))
    _, loss = model(x, x)
    assert abs(loss.item() - torch.log(torch.tensor(65.0)).item()) < 0.1


def test_bigram_depends_only_on_the_last_character() -> None:
    model = build_model(ModelConfig(model="bigram", vocab_size=5))
    torch.nn.init.normal_(model.table.weight)
    a, _ = model(torch.tensor([[1, 2, 3]]))
    b, _ = model(torch.tensor([[4, 0, 3]]))
    assert torch.equal(a[0, -1], b[0, -1])


def test_compiled_rope_gpt_matches_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU presets compile: the compiled model rotates in real pairs (inductor has no
    complex dtype) and gives eager's logits, loss and gradients. A 2-layer, 16-wide model
    keeps inductor's compile to seconds."""
    from charlm_tui.core.models.gpt import Rotary

    traced: list[int] = []
    real = Rotary.rotate_real

    def counted(self: Rotary, x: torch.Tensor, start: int) -> torch.Tensor:
        traced.append(start)  # runs while dynamo traces forward
        return real(self, x, start)

    monkeypatch.setattr(Rotary, "rotate_real", counted)
    model = gpt(position="rope", activation="relu2")
    x = torch.randint(0, 11, (2, 16), generator=torch.Generator().manual_seed(0))
    logits, loss = model(x, x)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    assert not traced  # eager keeps the complex product
    c_logits, c_loss = torch.compile(model)(x, x)
    c_loss.backward()
    assert len(traced) == 4  # q and k of both layers went the real way under compile
    assert torch.allclose(c_logits, logits, atol=1e-5)
    assert float(c_loss.detach()) == pytest.approx(float(loss.detach()), abs=1e-5)
    pairs = zip(model.parameters(), grads, strict=True)
    assert all(torch.allclose(p.grad, g, atol=1e-5) for p, g in pairs)
