"""Sampling text from a model: temperature, top-k, top-p (nucleus), seeded.

`generate` yields one character id at a time so callers can stream the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn

from core.errors import CharLMError
from core.evaluate import eval_mode


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8  # 0 means greedy
    top_k: int = 0  # 0 disables
    top_p: float = 1.0  # 1 disables

    def validate(self) -> None:
        if not 0.0 <= self.temperature <= 10.0:
            raise CharLMError(f"--temperature must be in [0, 10], not {self.temperature}")
        if self.top_k < 0:
            raise CharLMError(f"--top-k must be 0 (off) or more, not {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise CharLMError(f"--top-p must be in (0, 1], not {self.top_p}")


def filter_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Scale by temperature and mask everything outside top-k and the top-p nucleus."""
    logits = logits / params.temperature
    if params.top_k and params.top_k < logits.shape[-1]:
        kth = logits.topk(params.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token when the tokens before it already cover top_p; the first always stays.
        drop = (cumulative - sorted_logits.softmax(dim=-1)) >= params.top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def next_token(logits: torch.Tensor, params: SamplingParams, g: torch.Generator) -> int:
    if params.temperature == 0.0:
        return int(logits.argmax(dim=-1))
    probs = filter_logits(logits, params).softmax(dim=-1)
    return int(torch.multinomial(probs, 1, generator=g))


def generate(
    model: nn.Module,
    prompt_ids: list[int],
    max_new_tokens: int,
    params: SamplingParams,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Iterator[int]:
    """Yield new token ids one by one; the context is cropped to the model's window."""
    if not prompt_ids:
        raise CharLMError("generation needs at least one character of context")
    context = model.context_size
    ids = list(prompt_ids)
    with eval_mode(model):
        for _ in range(max_new_tokens):
            x = torch.tensor([ids[-context:]], dtype=torch.long, device=device)
            logits, _ = model(x)
            tok = next_token(logits[0, -1].float().cpu(), params, generator)
            ids.append(tok)
            yield tok
