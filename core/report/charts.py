"""The report's charts as PNG and SVG, drawn by matplotlib (the optional `report`
extra), imported only here and only when a chart is drawn, with the Agg backend (no
display needed): the loss chart, and each run's map of its character embeddings.

Every run in its own colour: val loss solid with a dot per eval, train loss (the same
evals' train batches) dashed, the loss of every logged step faint beneath, steering
changes as dotted vertical lines. Smoothing is the dashboard's (core/report/curves.py
`ema`), with the raw curve left faint behind it, as on the dashboard. Run names are
anybody's text: shown with control characters escaped, and never read as mathtext.

The embedding map is core/decoding/embeddings.py's (the inspect screen's `m`): each
character written at its place on the first two principal components of the checkpoint's
embedding table, in the colour of its kind, its label escaped as on a terminal.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.report.content import ChartOptions, RunPart
from charlm_tui.core.report.curves import ema
from charlm_tui.core.runs.scores import scored_checkpoint
from charlm_tui.core.text.display import MARKS, visible_char, visible_line

if TYPE_CHECKING:  # torch comes with it: imported where a map is drawn
    from charlm_tui.core.decoding.embeddings import EmbeddingMap

INSTALL = 'pip install "charlm-tui[report]"'
X_TITLES = {"iter": "iteration", "chars": "characters seen", "seconds": "training seconds"}
# Colour-blind-friendly and distinct on white (Okabe and Ito's palette), then matplotlib's.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# The embedding map's colour for each kind of character (embeddings.CLASSES), the same palette.
CLASS_COLORS = {"vowel": "#D55E00", "consonant": "#0072B2", "other letter": "#56B4E9",
                "digit": "#E69F00", "punctuation": "#009E73", "space": "#CC79A7",
                "other": "#555555"}  # fmt: skip


class ChartsUnavailable(Exception):
    """matplotlib cannot be imported: the report says how to get it."""


@dataclass(frozen=True)
class Chart:
    png: bytes
    svg: str


def chart_label(name: str) -> str:
    """A run name as a legend shows it: escapes for control characters, `$` never starting
    mathtext, and a leading `_` (which hides a legend entry) kept visible."""
    shown = visible_line(name).replace("$", r"\$")
    return " " + shown if shown.startswith("_") else shown


def pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartsUnavailable(f"{INSTALL} to get them") from None
    return matplotlib, plt


def _smooth(ys: Sequence[float], weight: float) -> list[float]:
    return ema(ys, weight) if weight > 0 else list(ys)


def render(draw: Callable[[Any, Any], None], **subplots: Any) -> Chart:
    """A figure in the report's style, drawn by `draw(fig, axes)`, as PNG and SVG."""
    matplotlib, plt = pyplot()
    style = {"svg.hashsalt": "charlm-tui", "svg.fonttype": "path", "font.size": 9}
    with matplotlib.rc_context(style):
        fig, axes = plt.subplots(dpi=110, layout="constrained", **subplots)
        try:
            draw(fig, axes)
            png, svg = io.BytesIO(), io.StringIO()
            with warnings.catch_warnings():  # a glyph the font lacks: a box, not a warning
                warnings.simplefilter("ignore")
                # No dates or versions in the files: the same runs give the same bytes.
                fig.savefig(png, format="png", metadata={"Software": None})
                fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    return Chart(png.getvalue(), svg.getvalue())


def loss_chart(runs: Sequence[RunPart], options: ChartOptions) -> Chart | None:
    """Train and val loss of every run on one chart, or None when no run has a curve."""
    if not any(p.curves.val[0] or p.curves.steps[0] for p in runs):
        return None
    return render(lambda fig, ax: _draw(ax, runs, options), figsize=(8, 4.5))


def _draw(ax, runs: Sequence[RunPart], options: ChartOptions) -> None:
    w = options.smooth
    for i, part in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        c = part.curves
        sx, sy = c.steps
        if sx:  # beneath the evals' lines, which are what the runs are compared by
            ax.plot(sx, sy, color=color, alpha=0.15 if w > 0 else 0.35, linewidth=0.8)
            if w > 0:
                ax.plot(sx, _smooth(sy, w), color=color, alpha=0.45, linewidth=0.9)
        tx, ty = c.train
        if tx:
            if w > 0:
                ax.plot(tx, ty, color=color, alpha=0.25, linewidth=0.8, linestyle="--")
            ax.plot(tx, _smooth(ty, w), color=color, linestyle="--", linewidth=1.2)
        vx, vy = c.val
        if vx:
            if w > 0:
                ax.plot(vx, vy, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(vx, _smooth(vy, w), color=color, linewidth=1.8, marker="o", markersize=3)
        for x in c.marks:
            ax.axvline(x, color=color, linestyle=":", linewidth=1.0, alpha=0.7)
        # One legend entry per run, in its colour, whatever it has curves of.
        ax.plot([], [], color=color, linewidth=1.8, label=chart_label(part.result.name))
    ax.plot([], [], color="0.4", linewidth=1.8, marker="o", markersize=3, label="val (evals)")
    ax.plot([], [], color="0.4", linestyle="--", label="train (evals)")
    ax.plot([], [], color="0.4", alpha=0.35, label="train (every logged step)")
    if any(p.curves.marks for p in runs):
        ax.plot([], [], color="0.4", linestyle=":", label="steered")
    if options.log_y:
        ax.set_yscale("log")
    ax.set_xlabel(X_TITLES[options.x])
    smooth = f", smoothed (EMA {w:g})" if w > 0 else ""
    ax.set_ylabel(f"loss (nats per character){smooth}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.85)


# -- the embedding map ---------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingFigure:
    """One run's embedding map for the report: the chart and what it shows, or (chart
    None) one line saying why there is none. `files`: the PNG's and the SVG's links,
    once written beside a Markdown report."""

    chart: Chart | None
    caption: str
    files: tuple[str, str] | None = None


def point_label(ch: str) -> str:
    """A character as the picture writes it: ⏎ ⇥ ␣ for layout, escapes for the rest."""
    return "␣" if ch == " " else MARKS.get(ch) or visible_char(ch)


def embedding_figure(part: RunPart) -> EmbeddingFigure:
    """The map of the run's checkpoint (best.pt, else last.pt), drawn; or why not, in a
    line. Raises ChartsUnavailable without matplotlib."""
    from charlm_tui.core.decoding.embeddings import embedding_map
    from charlm_tui.core.models.checkpoint import load_model

    path = scored_checkpoint(part.view.path)
    if path is None:
        return EmbeddingFigure(None, "no embedding map: the run has no checkpoint")
    try:
        model, vocab, ckpt = load_model(path)
    except CharLMError as e:
        return EmbeddingFigure(None, f"no embedding map: {e}")
    try:
        emap = embedding_map(model, vocab)
    except CharLMError as e:
        return EmbeddingFigure(None, f"no embedding map: {e}")
    if emap is None:
        return EmbeddingFigure(None, "no embedding map: this model has no embedding table")
    it = ckpt.get("iter")
    where = f"{path.name}, iteration {it:,}" if isinstance(it, int) else path.name
    bigram = getattr(getattr(model, "config", None), "model", "") == "bigram"
    table = "its table of next-character logits" if bigram else "its embedding table"
    a, b = emap.explained
    caption = (
        f"Character embeddings of {part.result.name} ({where}): each of its {len(vocab)} "
        f"characters placed by the first two principal components of {table}, which hold "
        f"{a:.0%} and {b:.0%} of its variance. Characters the model treats alike sit close "
        "together; the colours mark kinds of characters (⏎ newline, ␣ space)."
    )
    return EmbeddingFigure(embedding_chart(emap, part.result.name), caption)


def embedding_chart(emap: EmbeddingMap, name: str) -> Chart:
    """Each character's label at its place on the first two components, by kind."""
    from charlm_tui.core.decoding.embeddings import CLASSES, char_class

    def draw(fig: Any, ax: Any) -> None:
        xs, ys = zip(*emap.xy, strict=True)
        ax.scatter(xs, ys, s=0)  # the axes' limits: text alone does not set them
        kinds = [char_class(ch) for ch in emap.chars]
        with warnings.catch_warnings():  # a script the font lacks: a box, not a warning
            warnings.simplefilter("ignore")
            for ch, kind, (x, y) in zip(emap.chars, kinds, emap.xy, strict=True):
                ax.text(x, y, point_label(ch), color=CLASS_COLORS[kind], fontsize=11,
                        ha="center", va="center", parse_math=False)  # fmt: skip
            for kind in CLASSES:
                if kind in kinds:  # one legend entry per kind shown
                    ax.scatter([], [], color=CLASS_COLORS[kind], marker="s", label=kind)
            ax.margins(0.06)
            a, b = emap.explained
            ax.set_xlabel(f"1st principal component ({a:.0%} of the variance)")
            ax.set_ylabel(f"2nd principal component ({b:.0%})")
            ax.set_title(f"character embeddings: {chart_label(name)}", fontsize=10)
            ax.axhline(0, color="0.85", linewidth=0.8, zorder=0)
            ax.axvline(0, color="0.85", linewidth=0.8, zorder=0)
            ax.legend(fontsize=8, loc="best", framealpha=0.85)

    return render(draw, figsize=(6.5, 5.5))
