"""Writing a report: Markdown with its charts as PNG and SVG in a folder beside it
(`report.md` → `report_files/loss.png`, `.svg`, and each run's embedding map,
`embeddings-1.png`, `.svg`, ...), or one HTML page, its charts inline.

Every file is written atomically (core/files.py). A report replaces an earlier report
(each carries a marker line of ours) but never another file, nor images in a folder it
did not write, unless `overwrite` says so. Without matplotlib the report is written all
the same, saying how to get the chart.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_bytes, open_regular, refuse_link
from charlm_tui.core.report import markdown, page
from charlm_tui.core.report.charts import (
    Chart,
    ChartsUnavailable,
    EmbeddingFigure,
    embedding_figure,
    loss_chart,
)
from charlm_tui.core.report.content import ChartOptions, Report, build_report
from charlm_tui.core.report.spread import groups_chart, sweep_chart
from charlm_tui.core.runs.view import RunView

Format = Literal["markdown", "html"]
SUFFIXES: dict[str, Format] = {".md": "markdown", ".markdown": "markdown",
                               ".html": "html", ".htm": "html"}  # fmt: skip
IMAGES = ("loss.png", "loss.svg")
MAP_IMAGES = "embeddings-{}.png", "embeddings-{}.svg"  # by the run's place in the report
SPREAD_IMAGES = "{}.png", "{}.svg"  # groups.*, sweep.*
SPREAD_NAMES = ("groups", "sweep")
MARKER_BYTES = 4096  # a report's marker is in its first lines


@dataclass(frozen=True)
class Written:
    """What a report wrote: the file, its images (none in HTML), and anything to know."""

    path: Path
    images: tuple[Path, ...]
    notes: tuple[str, ...]


def report_format(path: Path) -> Format:
    if path.is_dir():
        raise CharLMError(f"-o {path} is a folder: name the report's file (e.g. {path}/report.md)")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise CharLMError(
            f"-o {path}: a report is Markdown (.md) or HTML (.html); name the file so"
        )
    return fmt


def files_folder(path: Path) -> Path:
    """Where a Markdown report's images go: `report.md` → `report_files/`."""
    return path.with_name(f"{path.stem}_files")


def is_report(path: Path) -> bool:
    """The file begins as a report of ours does (Markdown's or HTML's marker)."""
    try:
        with open_regular(path) as f:  # a FIFO named -o never blocks the report
            head = f.read(MARKER_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    return markdown.MARKER in head or page.MARKER in head


def check_target(path: Path, fmt: Format, overwrite: bool) -> None:
    """Refuse, in one line, to replace what is not a report of ours (unless told to) or
    to write where a folder or a link stands in the way."""
    if not path.parent.is_dir():
        raise CharLMError(f"-o {path}: no such folder {path.parent}")
    if path.exists() and not path.is_file():
        raise CharLMError(f"-o {path}: not a regular file (a folder, a FIFO, a device)")
    ours = is_report(path)
    if path.exists() and not ours and not overwrite:
        raise CharLMError(
            f"{path} exists and is not a charlm-tui report: choose another -o, or add "
            "--overwrite to replace it"
        )
    if fmt != "markdown":
        return
    folder = files_folder(path)
    refuse_link(folder)
    if folder.exists() and not folder.is_dir():
        raise CharLMError(f"{folder} is in the way of the report's images: it is not a folder")
    maps = sorted(folder.glob("embeddings-*.png")) + sorted(folder.glob("embeddings-*.svg"))
    spread = [folder / n.format(k) for k in SPREAD_NAMES for n in SPREAD_IMAGES]
    present = [p for p in [*(folder / n for n in IMAGES), *spread] if p.exists()] + maps
    if present and not ours and not overwrite:
        raise CharLMError(
            f"{present[0]} exists and is not from a report in {path.name}: choose another "
            "-o, or add --overwrite to replace it"
        )


def written_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z")


def write_report(
    views: Sequence[RunView],
    path: Path,
    chart: ChartOptions | None = None,
    *,
    overwrite: bool = False,
    written: str | None = None,
) -> Written:
    """Write the report of these runs to `path` (.md or .html)."""
    fmt = report_format(path)
    check_target(path, fmt, overwrite)
    chart = chart or ChartOptions()
    report = build_report(views, chart, written or written_now())
    drawn, no_chart = _draw(report)
    notes: list[str] = [no_chart] if drawn is None and views else []
    figures = _figures(report)
    spread = _spread(report, notes)
    if fmt == "html":
        svgs = {name: c.svg for name, c in spread.items()}
        body = page.to_html(report, drawn.svg if drawn else None, no_chart, figures, svgs)
        _write_text(path, body)
        return Written(path, (), tuple(notes))
    images: list[Path] = []
    links = None
    folder = files_folder(path)
    if drawn is not None:
        _make_folder(folder)
        png, svg = (folder / n for n in IMAGES)
        _write_bytes(png, drawn.png)
        _write_text(svg, drawn.svg)
        images += [png, svg]
        links = tuple(urllib.parse.quote(f"{folder.name}/{n}") for n in IMAGES)
    for i, figure in enumerate(figures):
        if figure.chart is None:
            continue
        _make_folder(folder)
        names = [n.format(i + 1) for n in MAP_IMAGES]
        _write_bytes(folder / names[0], figure.chart.png)
        _write_text(folder / names[1], figure.chart.svg)
        images += [folder / n for n in names]
        quoted = tuple(urllib.parse.quote(f"{folder.name}/{n}") for n in names)
        figures[i] = replace(figure, files=quoted)  # type: ignore[arg-type]
    spread_links = {}
    for name, chart in spread.items():
        _make_folder(folder)
        files = [n.format(name) for n in SPREAD_IMAGES]
        _write_bytes(folder / files[0], chart.png)
        _write_text(folder / files[1], chart.svg)
        images += [folder / n for n in files]
        spread_links[name] = tuple(urllib.parse.quote(f"{folder.name}/{n}") for n in files)
    body = markdown.to_markdown(report, links, no_chart, figures, spread_links)  # type: ignore[arg-type]
    _write_text(path, body)
    return Written(path, tuple(images), tuple(notes))


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise CharLMError(f"cannot make {folder}: {e.strerror or e}") from None


def _figures(report: Report) -> list[EmbeddingFigure]:
    """Each run's embedding map, or a line saying why it has none."""
    try:
        return [embedding_figure(part) for part in report.runs]
    except ChartsUnavailable as e:
        why = f"the embedding maps need matplotlib, not installed here: {e}"
        return [EmbeddingFigure(None, why) for _ in report.runs]


def _spread(report: Report, notes: list[str]) -> dict[str, Chart]:
    """The seed groups' and the sweep's charts, where the report has them."""
    try:
        charts = {"groups": groups_chart(report), "sweep": sweep_chart(report.sweeps)}
    except ChartsUnavailable:  # the loss chart's note already says how to get them
        return {}
    return {name: chart for name, chart in charts.items() if chart is not None}


def _draw(report: Report) -> tuple[Chart | None, str]:
    try:
        chart = loss_chart(report.runs, report.chart)
    except ChartsUnavailable as e:
        return None, f"the loss-curve images need matplotlib, not installed here: {e}"
    if chart is None:
        return None, "no run has evaluated or logged a step yet"
    return chart, ""


def _write_bytes(path: Path, payload: bytes) -> None:
    try:
        atomic_write_bytes(path, payload)
    except OSError as e:
        raise CharLMError(f"cannot write {path}: {e.strerror or e}") from None


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8", errors="surrogatepass"))


def default_name(folder: Path | None = None, stamp: float | None = None) -> Path:
    """`charlm-report-20261127-140502.md` in `folder` (the current one): a new name each
    second (the compare screen's `w`; a second report within the second replaces the
    first, as an earlier report is replaced)."""
    when = time.strftime("%Y%m%d-%H%M%S", time.localtime(stamp))
    return (folder or Path(os.getcwd())) / f"charlm-report-{when}.md"
