"""Looking inside a model: what it expects next, how surprised it is by each character of
a text, and what it looks at while predicting it.

`inspect_text` scores every character of a text the way `charlm-tui eval` does
(core.decoding.evaluate.evaluate_split): the text is cut into consecutive windows of block_size
characters, and each character is predicted from the characters before it *in its
window*. So the mean of its per-character losses is exactly eval's loss on the same
text, and the first character of the text, which nothing predicts, has no score. All
windows go through the model in batches, one forward pass each, as eval's do: losses,
probabilities, ranks and the top five come from the same logits.

What a prediction looked at ("internals"), per window:
- GPT: every layer's attention weights, softmax(q k^T / sqrt(d) + causal mask), computed
  beside SDPA during the same forward (core.models.gpt.GPT.attention_capture);
- RNN, GRU, LSTM: how far each character moved each layer's hidden state, the RMS of
  h_t - h_(t-1) over its units (h_(-1) = 0: eval and training zero the state at each
  window). Gradient-free, read off the same forward.
- MLP and bigram have neither: `no_internals` says why, in one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn

from charlm_tui.core.decoding.evaluate import eval_mode
from charlm_tui.core.decoding.options import GREEDY_BELOW, SamplingParams
from charlm_tui.core.decoding.sampling import context_start, filter_logits
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.text.display import MARKS, NAMES, char_label, visible_char  # noqa: F401 (its API)
from charlm_tui.core.text.vocab import Vocab

TOP_K = 5
INTERNALS_KEPT = 8  # windows of attention/state kept while the cursor moves
InternalsKind = Literal["attention", "hidden"]

# -- fixed colour scales ------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """Bins on a fixed scale, so a colour means the same on every text and model."""

    title: str
    edges: tuple[float, ...]  # upper bounds of every bin but the last
    colours: tuple[str | None, ...]  # a background per bin (None: none)
    labels: tuple[str, ...]

    def bin(self, value: float) -> int:
        return int(np.searchsorted(self.edges, value, side="right"))

    def colour(self, value: float) -> str | None:
        return None if value != value else self.colours[self.bin(value)]  # NaN: none

    def style(self, value: float) -> str:
        """A Rich style string: the bin's background and a text colour readable on it."""
        bg = self.colour(value)
        return f"{ink(bg)} on {bg}" if bg else ""


def ink(background: str) -> str:
    """Black or white, whichever reads better on a #rrggbb background (WCAG luminance)."""
    r, g, b = (int(background[i : i + 2], 16) / 255 for i in (1, 3, 5))
    lum = 0.2126 * r**2.2 + 0.7152 * g**2.2 + 0.0722 * b**2.2
    return "#000000" if lum > 0.18 else "#ffffff"


# Surprise in bits, -log2 p: under half a bit the model gave the character p > 0.71;
# from 4 bits on, p < 1/16; 6.0 bits is a uniform guess among 65 characters.
SURPRISE = Scale(
    "surprise, bits",
    (0.5, 1.0, 2.0, 4.0, 8.0),
    ("#1d3b6e", "#2a7b8c", "#4fb36b", "#e4d344", "#f28e2b", "#d62728"),
    ("<½", "½–1", "1–2", "2–4", "4–8", "≥8"),
)
# Attention weights: a row sums to 1 over up to block_size characters (uniform over 128
# is 0.8%), so steps of about 3x from 1%: a diffuse head washes its context in the first
# colour, a sharp one lights a few characters.
ATTENTION = Scale(
    "attention",
    (0.01, 0.03, 0.1, 0.3, 0.6),
    (None, "#3b2a5c", "#5d3a8e", "#8e4fb8", "#c474d9", "#f2b8ff"),
    ("<1%", "1–3%", "3–10%", "10–30%", "30–60%", "≥60%"),
)
# How far a character moved a recurrent layer's state, RMS per unit (tanh-bounded
# states: a unit moves at most 2).
STATE_CHANGE = Scale(
    "state change, RMS",
    (0.02, 0.05, 0.1, 0.2, 0.4),
    (None, "#3b2a5c", "#5d3a8e", "#8e4fb8", "#c474d9", "#f2b8ff"),
    ("<.02", ".02–.05", ".05–.1", ".1–.2", ".2–.4", "≥.4"),
)


def bits(p: float) -> float:
    return -math.log2(p) if p > 0 else math.inf


# -- the next character -----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A candidate next character: the model's probability, and sampling's."""

    char: str
    raw: float  # softmax of the logits
    sampled: float  # after temperature, top-k and top-p: what generation draws from


def _context_ids(model: nn.Module, vocab: Vocab, text: str) -> list[int]:
    # What generation would read: the whole text must be known to the model (generation
    # refuses it otherwise, so a prediction for a cleaned-up text would be a different
    # question); then its last context_size characters, or all of it for a recurrent
    # model, whose decoding carries its state through the whole text.
    ids = vocab.encode(text, "the prompt")
    return ids[context_start(model, len(ids)) :]


def next_char_choices(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    params: SamplingParams | None = None,
    k: int = TOP_K,
    device: torch.device | str = "cpu",
) -> list[Choice]:
    """The k likeliest next characters after `text`, raw and as sampling sees them.

    Raises CharLMError when `text` has characters outside the vocabulary; an empty text
    has no answer ([]). Without `params`, sampled equals raw.
    """
    ids = _context_ids(model, vocab, text)
    if not ids:
        return []
    with eval_mode(model):
        logits, _ = model(torch.tensor([ids], device=device))
    logits = logits[0, -1].float().cpu()
    raw = logits.softmax(-1)
    if params is None:
        sampled = raw
    elif params.temperature < GREEDY_BELOW:  # greedy: the argmax, always
        sampled = torch.zeros_like(raw).scatter_(0, raw.argmax()[None], 1.0)
    else:
        sampled = filter_logits(logits, params).softmax(-1)
    top = raw.topk(min(k, len(vocab)))
    return [Choice(vocab.chars[i], float(raw[i]), float(sampled[i])) for i in top.indices.tolist()]


# -- what a model shows of its workings --------------------------------------------------


def internals_kind(model: nn.Module) -> InternalsKind | None:
    if callable(getattr(model, "attention_capture", None)):
        return "attention"
    if isinstance(getattr(model, "layers", None), nn.ModuleList) and all(
        isinstance(m, nn.RNNBase) for m in model.layers
    ):
        return "hidden"
    return None


def no_internals(model: nn.Module) -> str:
    """Why a model has no attention to show, in one line ("" when it has)."""
    if internals_kind(model) is not None:
        return ""
    name = getattr(getattr(model, "config", None), "model", type(model).__name__)
    if name == "bigram":
        return "attention does not apply: a bigram reads only the character before"
    if name == "mlp":
        return (
            "attention does not apply: this MLP reads its last characters at fixed "
            "places, concatenated, with no weighting to show"
        )
    return f"attention does not apply to a {name} model"


@dataclass(frozen=True)
class Internals:
    """One window's workings. attention: (n_layer, n_head, T, T), row t = the weights of
    the prediction made at input position t over positions 0..t (0 after); hidden:
    (n_layer, T), how far input position t moved each layer's state (RMS per unit)."""

    kind: InternalsKind
    values: np.ndarray

    @property
    def n_layer(self) -> int:
        return self.values.shape[0]

    @property
    def n_head(self) -> int:
        return self.values.shape[1] if self.kind == "attention" else 0

    def row(self, t: int, layer: int, head: int | None = None) -> np.ndarray:
        """The weight of each input position 0..t for the prediction made at t: one
        head's attention, the mean of the layer's heads (head None), or for a recurrent
        model the state change each position caused."""
        if self.kind == "hidden":
            return self.values[layer, : t + 1]
        rows = self.values[layer, :, t, : t + 1]
        return rows.mean(axis=0) if head is None else rows[head]


@contextmanager
def _capturing(model: nn.Module, kind: InternalsKind | None) -> Iterator[Any]:
    """A function returning the last forward's internals per window, (B, ...) arrays."""
    if kind == "attention":
        with model.attention_capture() as take:
            yield lambda: np.stack([w.cpu().numpy() for w in take()], axis=1)
        return
    if kind != "hidden":
        yield None
        return
    outputs: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        outputs.append(output[0])  # (B, T, C): the state after every position

    handles = [layer.register_forward_hook(hook) for layer in model.layers]

    def take() -> np.ndarray:
        moves = []
        for h in outputs:
            before = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)
            moves.append(((h - before).float().square().mean(-1).sqrt()).cpu().numpy())
        outputs.clear()
        return np.stack(moves, axis=1)  # (B, n_layer, T)

    try:
        yield take
    finally:
        for handle in handles:
            handle.remove()


def no_lens(model: nn.Module) -> str:
    """Why the logit lens does not apply to a model, in one line ("" when it does)."""
    if all(isinstance(getattr(model, n, None), nn.Module) for n in ("blocks", "ln_f", "lm_head")):
        return ""
    name = getattr(getattr(model, "config", None), "model", type(model).__name__)
    return f"the logit lens reads a transformer's residual stream: a {name} model has none"


def lens_probs(model: nn.Module, window: torch.Tensor) -> torch.Tensor | None:
    """The logit lens (nostalgebraist, 2020) of one window, (n_layer, T, V): after each
    block, the residual stream read out through the model's final norm and head, as if
    the model ended there. What each layer would guess; the last layer's is the model's
    own prediction. None for a model without blocks on a residual stream (all but GPT)."""
    if no_lens(model):
        return None
    blocks, norm, head = model.blocks, model.ln_f, model.lm_head
    streams: list[torch.Tensor] = []
    handles = [b.register_forward_hook(lambda _m, _i, out: streams.append(out)) for b in blocks]
    try:
        with eval_mode(model), torch.no_grad():
            model(window)
            return torch.stack([head(norm(h)).float().softmax(-1)[0] for h in streams])
    finally:
        for handle in handles:
            handle.remove()


# -- scoring a text ----------------------------------------------------------------------


@dataclass
class Inspection:
    """Every character of a text, scored as eval scores it. Index n is the text's n-th
    character; n = 0 has no prediction (loss and prob NaN, rank 0)."""

    text: str
    ids: np.ndarray  # (N,)
    block_size: int
    loss: np.ndarray  # (N,) nats
    prob: np.ndarray  # (N,)
    rank: np.ndarray  # (N,) 1 = the likeliest
    top_ids: np.ndarray  # (N, k)
    top_probs: np.ndarray  # (N, k)
    vocab: Vocab
    kind: InternalsKind | None = None
    internals: dict[int, Internals] = field(default_factory=dict)  # by window
    # Characters of the given text the model never saw, left out of `text` and not
    # scored: (their position in the given text, the character).
    unseen: tuple[tuple[int, str], ...] = ()
    _lens: dict[tuple[int, int], Any] = field(default_factory=dict, repr=False)  # the latest

    def __len__(self) -> int:
        return len(self.text)

    @property
    def n_scored(self) -> int:
        return len(self.text) - 1

    @property
    def mean_loss(self) -> float:
        return float(self.loss[1:].mean())

    @property
    def bpc(self) -> float:
        return self.mean_loss / math.log(2)

    def window(self, n: int) -> tuple[int, int]:
        """(window index, position of its first character) for character n >= 1."""
        r = (n - 1) // self.block_size
        return r, r * self.block_size

    def context(self, n: int) -> range:
        """The characters that prediction n read: from its window's start up to n - 1."""
        if n < 1:
            return range(0)
        return range(self.window(n)[1], n)

    def top(self, n: int) -> list[tuple[str, float]]:
        if n < 1:
            return []
        return [
            (self.vocab.chars[i], float(p))
            for i, p in zip(self.top_ids[n], self.top_probs[n], strict=True)
        ]

    def cached(self, n: int) -> Internals | None:
        """The internals of character n's window if they were computed, without computing."""
        if self.kind is None or n < 1:
            return None
        return self.internals.get(self.window(n)[0])

    def internals_of(self, n: int, model: nn.Module, device: torch.device | str = "cpu"):
        """The internals of character n's window (computed on first use: one forward)."""
        if self.kind is None or n < 1:
            return None
        r, start = self.window(n)
        if r not in self.internals:
            while len(self.internals) >= INTERNALS_KEPT:  # ~9 MB a window at 6x6, block 256
                self.internals.pop(next(iter(self.internals)))  # the oldest first
            end = min(start + self.block_size, len(self.ids) - 1)
            window = torch.from_numpy(self.ids[start:end].astype(np.int64))[None].to(device)
            with eval_mode(model), _capturing(model, self.kind) as take:
                model(window)
                self.internals[r] = Internals(self.kind, take()[0])
        return self.internals[r]

    def weights(
        self, n: int, model: nn.Module, layer: int, head: int | None = None
    ) -> dict[int, float]:
        """{character index: weight} over the characters prediction n read."""
        internals = self.internals_of(n, model)
        if internals is None:
            return {}
        start = self.window(n)[1]
        row = internals.row(n - 1 - start, layer, head)
        return {start + j: float(w) for j, w in enumerate(row)}

    def lens_of(
        self, n: int, model: nn.Module, device: torch.device | str = "cpu", k: int = 3
    ) -> list[list[tuple[str, float]]] | None:
        """Prediction n through the logit lens: the k likeliest characters after each
        layer, first to last (one forward of its window, kept for its other characters);
        None for n = 0 or a model the lens does not apply to."""
        if n < 1:
            return None
        r, start = self.window(n)
        if (r, k) not in self._lens:
            end = min(start + self.block_size, len(self.ids) - 1)
            window = torch.from_numpy(self.ids[start:end].astype(np.int64))[None].to(device)
            probs = lens_probs(model, window)
            top = None if probs is None else probs.topk(min(k, len(self.vocab)), dim=-1)
            self._lens = {(r, k): top}  # one window: a new dict, so a reader never sees half
        return self.lens_cached(n, k)

    def lens_cached(self, n: int, k: int = 3) -> list[list[tuple[str, float]]] | None:
        """lens_of(n) if its window's lens was computed, without computing (else None)."""
        if n < 1:
            return None
        r, start = self.window(n)
        top = self._lens.get((r, k))
        if top is None:
            return None
        values, ids = (t[:, n - 1 - start].tolist() for t in (top.values, top.indices))
        return [
            [(self.vocab.chars[i], p) for i, p in zip(layer_ids, layer_p, strict=True)]
            for layer_ids, layer_p in zip(ids, values, strict=True)
        ]

    def record(self, n: int) -> dict[str, Any]:
        """Character n as JSON: char, loss (nats), prob, rank, top5 (None for n = 0)."""
        if n < 1:
            return {"index": 0, "char": self.text[0], "loss": None, "prob": None, "rank": None,
                    "top5": None}  # fmt: skip
        return {
            "index": n,
            "char": self.text[n],
            "loss": float(self.loss[n]),
            "prob": float(self.prob[n]),
            "rank": int(self.rank[n]),
            "top5": [{"char": c, "prob": p} for c, p in self.top(n)],
        }

    def summary(self) -> dict[str, Any]:
        return {
            "mean_loss": self.mean_loss,
            "bpc": self.bpc,
            "scored": self.n_scored,
            "chars": len(self.text),
            "block_size": self.block_size,
            "unseen": [{"position": p, "char": c} for p, c in self.unseen],
        }

    def given_text(self) -> list[tuple[str, int | None]]:
        """The text as given, each character with its index in `text`; None for one the
        model never saw (left out, not scored)."""
        at = dict(self.unseen)
        out: list[tuple[str, int | None]] = []
        n = 0
        for pos in range(len(self.text) + len(self.unseen)):
            if pos in at:
                out.append((at[pos], None))
            else:
                out.append((self.text[n], n))
                n += 1
        return out


def drop_unseen(vocab: Vocab, text: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """`text` without the characters `vocab` lacks, and those: (position, character).
    A model has no input for a character it never saw; the rest is scored without it."""
    unseen = tuple((i, ch) for i, ch in enumerate(text) if ch not in vocab.stoi)
    if not unseen:
        return text, ()
    return "".join(ch for ch in text if ch in vocab.stoi), unseen


def inspect_text(
    model: nn.Module,
    vocab: Vocab,
    text: str,
    block_size: int,
    *,
    internals: bool = False,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    what: str = "the text",
    skip_unseen: bool = False,
) -> Inspection:
    """Score every character of `text` in eval's windows, batched as eval batches them.

    `internals`: also keep every window's attention weights (GPT) or state changes
    (recurrent) from the same forward passes; otherwise Inspection.internals_of computes
    one window's on demand. Characters the model never saw are left out and listed
    (Inspection.unseen) with `skip_unseen`, else refused; a text too short to score is
    refused. Errors are one-line CharLMErrors naming `what`.
    """
    unseen: tuple[tuple[int, str], ...] = ()
    if skip_unseen:
        text, unseen = drop_unseen(vocab, text)
        if unseen and len(text) < 2:
            raise CharLMError(
                f"{what} has fewer than 2 characters the model knows: nothing to score"
            )
    if len(text) < 2:
        raise CharLMError(f"{what} needs at least 2 characters: the first is only context")
    ids = np.asarray(vocab.encode(text, what), dtype=np.int64)
    N, B, k = len(ids), block_size, min(TOP_K, len(vocab))
    loss = np.full(N, np.nan)
    prob = np.full(N, np.nan)
    rank = np.zeros(N, dtype=np.int64)
    top_ids = np.zeros((N, k), dtype=np.int64)
    top_probs = np.zeros((N, k))
    kind = internals_kind(model)
    out = Inspection(text, ids, B, loss, prob, rank, top_ids, top_probs, vocab, kind)
    out.unseen = unseen

    n_full = (N - 1) // B
    capture = _capturing(model, kind) if internals else nullcontext(None)
    with eval_mode(model), capture as take:
        for first in range(0, n_full, batch_size):
            rows = range(first, min(first + batch_size, n_full))
            windows = np.stack([ids[r * B : (r + 1) * B + 1] for r in rows])
            _score(model, out, windows, first, take, device)
        if N - n_full * B > 1:  # the tail: fewer than B targets, as in eval
            _score(model, out, ids[None, n_full * B :], n_full, take, device)
    prob[1:] = np.exp(-loss[1:])
    return out


def _score(
    model: nn.Module,
    out: Inspection,
    windows: np.ndarray,
    first_window: int,
    take: Any,
    device: torch.device | str,
) -> None:
    """One batch of windows through the model: each target's loss, rank and the top
    characters written into `out` (and the windows' internals, when `take` collects them)."""
    B, k = out.block_size, out.top_ids.shape[1]
    w = torch.from_numpy(windows).to(device)
    logits, _ = model(w[:, :-1])
    logp = logits.float().log_softmax(-1)
    target = logp.gather(-1, w[:, 1:, None])  # (b, T, 1)
    top = logp.topk(k, dim=-1)
    # Rank: 1 + how many characters the model found strictly likelier.
    ranks = (logp > target).sum(-1) + 1
    T = windows.shape[1] - 1
    for b in range(windows.shape[0]):
        at = slice((first_window + b) * B + 1, (first_window + b) * B + 1 + T)
        out.loss[at] = -target[b, :, 0].double().cpu().numpy()
        out.rank[at] = ranks[b].cpu().numpy()
        out.top_ids[at] = top.indices[b].cpu().numpy()
        out.top_probs[at] = top.values[b].exp().cpu().numpy()
    if take is not None:
        for b, values in enumerate(take()):
            out.internals[first_window + b] = Internals(out.kind, values)  # type: ignore[arg-type]


# -- what to inspect ----------------------------------------------------------------------
