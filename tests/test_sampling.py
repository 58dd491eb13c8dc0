"""Sampling: seeded, greedy, top-k/top-p filters, bad options named, KV-cache decoding exact."""

import pytest
import torch

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.decoding.options import GenerateOptions, SamplingParams
from charlm_tui.core.decoding.sampling import filter_logits, generate
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models import build_model


def seeded_model(seed: int, std: float | None = None, **config) -> torch.nn.Module:
    """A model built from ModelConfig(**config) after torch.manual_seed(seed); with `std`,
    every weight drawn again from N(0, std): a peaked, non-uniform model."""
    torch.manual_seed(seed)
    m = build_model(ModelConfig(**config))
    if std is not None:
        for p in m.parameters():
            torch.nn.init.normal_(p, std=std)
    return m


def model() -> torch.nn.Module:
    return seeded_model(0, 0.5, vocab_size=9, block_size=8, n_layer=1, n_head=1, n_embd=8)


SMALL = dict(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=8)  # x: (1, 12)


def run(params: SamplingParams, seed: int = 0, n: int = 30) -> list[int]:
    return list(generate(model(), [1, 2], n, params, torch.Generator().manual_seed(seed)))


def test_same_seed_same_text_and_context_longer_than_block() -> None:
    p = SamplingParams(temperature=1.0)
    a, b = run(p, seed=1), run(p, seed=1)
    assert a == b and len(a) == 30  # 32 tokens > block_size 8: the window slides
    assert run(p, seed=2) != a


def test_greedy_equivalents() -> None:
    greedy = run(SamplingParams(temperature=0.0))
    assert run(SamplingParams(temperature=1.0, top_k=1), seed=5) == greedy
    assert run(SamplingParams(temperature=1.0, top_p=1e-6), seed=6) == greedy


def test_top_k_and_top_p_masks() -> None:
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])
    k = filter_logits(logits, SamplingParams(temperature=1.0, top_k=2))
    assert torch.isinf(k).tolist() == [False, False, True, True, True]
    probs = logits.softmax(-1)  # 0.636, 0.234, 0.086, ...
    p = filter_logits(logits, SamplingParams(temperature=1.0, top_p=0.8))
    assert torch.isinf(p).tolist() == [False, False, True, True, True]
    assert probs[:2].sum() > 0.8 > probs[0]


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(temperature=-1.0), r"--temperature must be in \[0, 10\]"),
        (dict(top_k=-1), "--top-k must be at least 0"),
        (dict(top_p=0.0), r"--top-p must be in \(0, 1\]"),
        (dict(top_p=1.5), r"--top-p must be in \(0, 1\]"),
        (dict(max_new_tokens=100_001), r"--max-new-tokens must be in \[0, 100,000\]"),
    ],
)
def test_bad_sampling_options_name_their_flag(bad: dict, message: str) -> None:
    with pytest.raises(CharLMError, match=message):
        GenerateOptions(**bad).validate()


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_kv_cache_decoding_matches_full_recomputation(position: str) -> None:
    shape = dict(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16)
    m = seeded_model(0, 0.3, **shape, position=position)
    prompt = [1, 5, 2, 7, 3]
    greedy = SamplingParams(temperature=0.0)
    g = torch.Generator()
    cached = list(generate(m, prompt, 60, greedy, g, use_cache=True))  # 65 > 4 windows of 16
    full = list(generate(m, prompt, 60, greedy, g, use_cache=False))
    assert cached == full
    sampled = SamplingParams(temperature=1.0, top_k=5)
    a = list(generate(m, prompt, 60, sampled, torch.Generator().manual_seed(3), use_cache=True))
    b = list(generate(m, prompt, 60, sampled, torch.Generator().manual_seed(3), use_cache=False))
    assert a == b


@pytest.mark.parametrize(
    ("position", "activation", "bias"),
    [("learned", "gelu", True), ("rope", "relu2", False), ("rope", "gelu", True)],
)
def test_one_position_step_matches_the_full_forward_pass(
    position: str, activation: str, bias: bool
) -> None:
    parts = dict(position=position, activation=activation, bias=bias)
    m = seeded_model(2, **SMALL, **parts).eval()
    x = torch.randint(0, 11, (1, 12))
    with torch.inference_mode():
        full, _ = m(x)
        cache = m.new_cache()
        m(x[:, :3], cache=cache)  # a prompt through forward, then GPT.step per character
        steps = [m.step(int(t), cache) for t in x[0, 3:]]
        assert cache.length == 12
        with pytest.raises(ValueError, match="exceeds block_size"):
            m.step(0, cache)
    assert torch.allclose(torch.stack(steps), full[0, 3:], atol=1e-5)


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_kv_cache_logits_match_the_full_forward_pass(position: str) -> None:
    m = seeded_model(1, **SMALL, position=position).eval()
    x = torch.randint(0, 11, (1, 12))
    with torch.no_grad():
        full, _ = m(x)
        cache = m.new_cache()
        first, _ = m(x[:, :5], cache=cache)  # fill with five, then one at a time
        steps = [first[0, -1]]
        for t in range(5, 12):
            logits, _ = m(x[:, t : t + 1], cache=cache)
            steps.append(logits[0, -1])
        # and a multi-position chunk after cached positions (the masked path)
        cache2 = m.new_cache()
        m(x[:, :4], cache=cache2)
        chunk, _ = m(x[:, 4:9], cache=cache2)
    assert torch.allclose(torch.stack(steps), full[0, 4:], atol=1e-5)
    assert torch.allclose(chunk[0, -1], full[0, 8], atol=1e-5)
    with pytest.raises(ValueError, match="exceeds block_size"):
        m(x[:, :1], cache=cache)  # the cache is full
