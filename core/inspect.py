"""Looking inside a model's prediction: the distribution over the next character."""

from __future__ import annotations

import torch
import torch.nn as nn

from core.evaluate import eval_mode
from core.sampling import context_start
from core.vocab import Vocab


def next_char_distribution(
    model: nn.Module, vocab: Vocab, text: str, k: int = 5, device: torch.device | str = "cpu"
) -> list[tuple[str, float]]:
    """The k likeliest next characters after `text`, with their probabilities.

    Characters outside the vocabulary are skipped; an empty context has no answer. The
    model reads what generation would read first (core.sampling.context_start): the last
    context_size characters, or the whole text for a recurrent model, whose decoding
    carries its state through all of it.
    """
    ids = [vocab.stoi[ch] for ch in text if ch in vocab.stoi]
    ids = ids[context_start(model, len(ids)) :]
    if not ids:
        return []
    with eval_mode(model):
        logits, _ = model(torch.tensor([ids], device=device))
        probs = logits[0, -1].float().softmax(-1)
        top = probs.topk(min(k, len(vocab)))
    return [(vocab.chars[i], float(p)) for p, i in zip(top.values, top.indices, strict=True)]
