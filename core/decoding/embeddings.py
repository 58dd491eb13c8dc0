"""A 2-D map of a model's character embeddings: their first two principal components,
where a newcomer sees vowels, digits and punctuation fall together."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import torch
import torch.nn as nn

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.text.display import char_label
from charlm_tui.core.text.vocab import Vocab


@dataclass(frozen=True)
class EmbeddingMap:
    chars: tuple[str, ...]
    xy: tuple[tuple[float, float], ...]  # each character's first two components
    explained: tuple[float, float]  # the share of the embeddings' variance each holds


def embedding_table(model: nn.Module) -> torch.Tensor | None:
    """The rows a model looks characters up in: a GPT's, an MLP's or an RNN's wte, a
    bigram's table (its rows are next-character logits, the only vectors it has)."""
    for name in ("wte", "table"):
        module = getattr(model, name, None)
        if isinstance(module, nn.Embedding):
            return module.weight.detach().float().cpu()
    return None


def embedding_map(model: nn.Module, vocab: Vocab) -> EmbeddingMap | None:
    """PCA of the vocabulary's rows (an MLP's padding row left out); None for a model
    without an embedding table. A table with NaN or inf (a diverged run) is a CharLMError."""
    table = embedding_table(model)
    if table is None or len(vocab) < 3:
        return None
    x = table[: len(vocab)]
    if not torch.isfinite(x).all():
        raise CharLMError("the embedding table holds NaN or inf (a diverged run): nothing to map")
    x = x - x.mean(dim=0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    components = v[:2]
    # An SVD's signs are arbitrary: fix them so the same weights draw the same map.
    flip = torch.sign(components[torch.arange(2), components.abs().argmax(dim=1)])
    coords = x @ (components * flip[:, None]).T
    variance = s.square()
    share = (variance[:2] / variance.sum().clamp_min(1e-12)).tolist()
    return EmbeddingMap(
        tuple(vocab.chars),
        tuple((float(a), float(b)) for a, b in coords.tolist()),
        (share[0], share[1] if len(share) > 1 else 0.0),
    )


def short_label(ch: str) -> str:
    """One cell for a character on the map: itself, or ⏎ ␣ and ·· for the rest."""
    shown = char_label(ch)
    if shown.startswith("⏎"):
        return "⏎"
    if shown.startswith("␣"):
        return "␣"
    wide = unicodedata.east_asian_width(ch) in ("W", "F")  # two cells: the grid would shift
    return shown if len(shown) == 1 and shown.isprintable() and not wide else "·"


# What kind of character each is, so that a newcomer sees which kinds fall together:
# the classes colour the map on the inspect screen and in the report's picture.
CLASSES = ("vowel", "consonant", "other letter", "digit", "punctuation", "space", "other")


def char_class(ch: str) -> str:
    """One of CLASSES: a vowel (a e i o u, any case or accent), another Latin letter, a
    letter of another script, a digit, punctuation or a symbol, a space, or other."""
    if ch.isspace():
        return "space"
    if ch.isalpha():
        base = unicodedata.normalize("NFD", ch)[0].lower()
        if base in "aeiou":
            return "vowel"
        latin = "LATIN" in unicodedata.name(ch, "")
        return "consonant" if latin else "other letter"
    if ch.isdigit():
        return "digit"
    if unicodedata.category(ch)[0] in "PS":
        return "punctuation"
    return "other"


@dataclass(frozen=True)
class Layout:
    """The map on a width × height grid of cells: cells[row][col] is the index of the
    character drawn there, ORIGIN for the origin's `+`, or None; `hidden` counts the
    characters that fell on a cell a later one took."""

    cells: tuple[tuple[int | None, ...], ...]
    hidden: int


ORIGIN = -1


def layout(emap: EmbeddingMap, width: int = 72, height: int = 24) -> Layout:
    """Each character at its place on a width × height grid (where two fall on one cell,
    the later one wins; the origin is marked when it is inside the map)."""
    width, height = max(width, 2), max(height, 2)
    xs = [x for x, _ in emap.xy]
    ys = [y for _, y in emap.xy]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = (hi_x - lo_x) or 1.0, (hi_y - lo_y) or 1.0

    def col(x: float) -> int:
        return round((x - lo_x) / span_x * (width - 1))

    def row(y: float) -> int:
        return round((hi_y - y) / span_y * (height - 1))  # up is +y

    grid: list[list[int | None]] = [[None] * width for _ in range(height)]
    if lo_x <= 0 <= hi_x and lo_y <= 0 <= hi_y:
        grid[row(0.0)][col(0.0)] = ORIGIN
    hidden = 0
    for i, (x, y) in enumerate(emap.xy):
        r, c = row(y), col(x)
        hidden += grid[r][c] not in (None, ORIGIN)
        grid[r][c] = i
    return Layout(tuple(tuple(line) for line in grid), hidden)


def draw(emap: EmbeddingMap, width: int = 72, height: int = 24) -> list[str]:
    """The map as lines of text: each character at its place on a width × height grid
    (where two fall on one cell, the later one wins; a `+` marks the origin)."""
    labels = [short_label(ch) for ch in emap.chars]

    def cell(i: int | None) -> str:
        return " " if i is None else "+" if i == ORIGIN else labels[i]

    return ["".join(cell(i) for i in line).rstrip() for line in layout(emap, width, height).cells]
