"""Sampling text from a model: temperature, top-k, top-p (nucleus), seeded.

`generate` yields one character id at a time so callers can stream the text.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn as nn

from charlm_tui.core.decoding.evaluate import eval_mode
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.models.protocol import IncrementalModel, context_kind
from charlm_tui.core.text.vocab import Vocab


def default_context(vocab: Vocab) -> str:
    """What generation starts from without a prompt: a newline, as a play's speech does."""
    return "\n" if "\n" in vocab.stoi else vocab.chars[0]


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


def pick(logits: torch.Tensor, params: SamplingParams, g: torch.Generator) -> tuple[int, float]:
    """A token, and the probability it was drawn with (1 when greedy)."""
    if params.greedy:
        return int(logits.argmax(dim=-1)), 1.0
    probs = filter_logits(logits, params).softmax(dim=-1)
    tok = int(torch.multinomial(probs, 1, generator=g))
    return tok, float(probs[tok])


def window_start(n_ids: int, start: int, context: int) -> int:
    """Where a "window" model's context begins once there are n_ids characters.

    A full window drops its oldest quarter at once (not one character per step), so a
    KV cache can be re-filled from the rest every context/4 characters instead of
    being recomputed for every new one. Cached and uncached decoding share this rule.
    """
    if n_ids - start <= context:
        return start
    return n_ids - max(1, context * 3 // 4)


def context_start(model: nn.Module, n_ids: int, start: int | None = None) -> int:
    """Where the characters a model reads for its next prediction begin.

    `start`: where they began one character earlier (None: this is the first read).
    "unbounded" models read everything; "sliding" ones the last context_size characters;
    "window" ones (GPT) the last context_size at first, then follow window_start.
    """
    kind, context = context_kind(model), model.context_size
    if kind == "unbounded":
        return 0
    if kind == "sliding" or start is None:
        return max(0, n_ids - context)
    return window_start(n_ids, start, context)


def generate(
    model: nn.Module,
    prompt_ids: list[int],
    max_new_tokens: int,
    params: SamplingParams,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    use_cache: bool = True,
    decoder: nn.Module | None = None,
    chosen: list[float] | None = None,
) -> Iterator[int]:
    """Yield new token ids one by one (streaming).

    An incremental model (core.models.protocol: GPT, MLP, RNN/GRU/LSTM) reads the prompt
    into a cache once, then costs one `step` per character: one position's forward pass
    (GPT), one window of ids (MLP) or one time step (recurrent, however long the text).
    A "window" model's cache is re-filled when its window moves; the others' never is.
    Without a cache (bigram, or use_cache=False), the context is re-read each time.
    `decoder`, when given, computes those steps instead of `model` (e.g. a GPT's int8
    copy from core.models.quant): single rows are bound by weight bandwidth, while the
    prompt and the window refills are whole matrices, faster in fp32.
    `chosen`, when given, gets the probability each token was drawn with, before the
    token is yielded (the generate pane colours characters by it).
    """
    if not prompt_ids:
        raise CharLMError("generation needs at least one character of context")
    ids = list(prompt_ids)
    start = context_start(model, len(ids))
    cached = use_cache and isinstance(model, IncrementalModel)
    refills = context_kind(model) == "window"  # the only kind whose cache cannot slide
    stepper = decoder if decoder is not None else model  # one new position at a time
    with eval_mode(model):
        cache = model.new_cache() if cached else None

        def read_context() -> torch.Tensor:
            x = torch.tensor([ids[start:]], dtype=torch.long, device=device)
            if cache is not None:
                cache.reset()
            logits = model(x, cache=cache)[0] if cache is not None else model(x)[0]
            return logits[0, -1]

        logits = read_context()
        for n in range(max_new_tokens):
            tok, p = pick(logits.float().cpu(), params, generator)
            if chosen is not None:
                chosen.append(p)
            ids.append(tok)
            yield tok
            if n == max_new_tokens - 1:
                break
            new_start = context_start(model, len(ids), start)
            moved, start = new_start != start, new_start
            if cache is None or (refills and moved):
                logits = read_context()
            else:
                logits = stepper.step(tok, cache)
