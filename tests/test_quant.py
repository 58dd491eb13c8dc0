"""int8 weight-only decoding: close to fp32, never touches the original model."""

import pytest
import torch
import torch.nn as nn

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model
from charlm_tui.core.models.gpt import KVCache
from charlm_tui.core.models.quant import Int8Linear, decoder_for, int8_available, quantize_int8

needs_int8 = pytest.mark.skipif(not int8_available(), reason="no int8 kernel in this build")


def gpt() -> nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=32)
    return build_model(cfg).eval()


@needs_int8
def test_int8_linear_error_is_within_half_a_step_per_weight() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    x = torch.randn(5, 64)
    q = Int8Linear(lin)
    assert q.weight_int8.dtype == torch.int8 and q.weight_int8.abs().max() <= 127
    exact = lin(x).detach()
    # Each weight is off by at most half a step (scale / 2); activations go through bf16.
    bound = (q.scales.float() / 2 * x.abs().sum(dim=1, keepdim=True)) + 0.01 * exact.abs()
    assert ((q(x) - exact).abs() <= bound + 1e-6).all()
    assert not torch.equal(q(x), exact)  # it really is quantized
    assert torch.equal(q.row_product()(x), q(x))  # GPT.step's bound form: the same maths


@needs_int8
def test_quantized_copy_leaves_the_model_alone_and_tracks_its_logits() -> None:
    m = gpt()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    q = quantize_int8(m)
    assert not any(isinstance(mod, nn.Linear) for mod in q.modules())
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    x = torch.randint(0, 13, (2, 16))
    with torch.inference_mode():
        exact, approx = m(x)[0], q(x)[0]
    assert (approx - exact).abs().max() < 0.02 * exact.abs().max()


def prompted() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor, KVCache]:
    """A GPT, its int8 copy, 16 ids, their fp32 logits, and a cache holding the first 6."""
    m = gpt()
    q = quantize_int8(m)
    x = torch.randint(0, 13, (1, 16))
    with torch.inference_mode():
        full, _ = m(x)
        cache = m.new_cache()
        m(x[:, :6], cache=cache)
    return m, q, x, full, cache


@needs_int8
def test_int8_decoder_steps_match_fp32_steps_on_the_same_cache() -> None:
    _, q, x, full, cache = prompted()  # the prompt in fp32, then int8 one at a time
    with torch.inference_mode():
        steps = [q(x[:, t : t + 1], cache=cache)[0][0, -1] for t in range(6, 16)]
    assert torch.allclose(torch.stack(steps), full[0, 6:], atol=0.02 * full.abs().max())


@needs_int8
def test_a_cache_steps_with_the_weights_of_whichever_model_steps_it() -> None:
    # GPT.step keeps its tensors in the cache (StepPlan): another model stepping the
    # same cache must use its own, not the first one's.
    m, q, x, full, cache = prompted()
    with torch.inference_mode():
        fp32 = m.step(int(x[0, 6]), cache)
        int8 = q.step(int(x[0, 7]), cache)
        assert cache.plan is not None and cache.plan.model is q
        again = m.step(int(x[0, 8]), cache)
        assert cache.plan.model is m
    tol = 0.02 * full.abs().max()
    assert torch.allclose(fp32, full[0, 6], atol=1e-5)
    assert torch.allclose(int8, full[0, 7], atol=tol) and not torch.allclose(int8, full[0, 7])
    assert torch.allclose(again, full[0, 8], atol=tol)


@needs_int8
def test_generation_with_an_int8_decoder_is_seeded_and_slides() -> None:
    m, params = gpt(), SamplingParams(temperature=1.0)
    q = quantize_int8(m)

    def text(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return list(generate(m, [1, 2, 3], 50, params, g, decoder=q))  # 53 > block 16

    assert text(4) == text(4) and len(text(4)) == 50
    assert text(4) != text(5)


def test_decoder_choice() -> None:
    m = gpt()
    bigram = build_model(ModelConfig(model="bigram", vocab_size=5))
    assert decoder_for(m, "fp32") is None
    assert decoder_for(bigram, "auto") is None
    if int8_available():
        assert isinstance(decoder_for(m, "int8"), nn.Module)
        assert decoder_for(m, "auto") is not None  # int8 on CPU by default
    with pytest.raises(CharLMError, match="bigram model is a lookup table"):
        decoder_for(bigram, "int8")
    with pytest.raises(CharLMError, match="--precision must be one of auto, fp32, int8"):
        decoder_for(m, "fp16")
