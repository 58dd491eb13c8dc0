"""Writing a report: Markdown with its chart as PNG and SVG in a folder beside it
(`report.md` → `report_files/loss.png`, `.svg`), or one HTML page, its chart inline.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import atomic_write_bytes, open_regular, refuse_link
from charlm_tui.core.report import markdown, page
from charlm_tui.core.report.charts import Chart, ChartsUnavailable, loss_chart
from charlm_tui.core.report.content import ChartOptions, Report, build_report
from charlm_tui.core.runs.view import RunView

Format = Literal["markdown", "html"]
SUFFIXES: dict[str, Format] = {".md": "markdown", ".markdown": "markdown",
                               ".html": "html", ".htm": "html"}  # fmt: skip
IMAGES = ("loss.png", "loss.svg")
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
    present = [folder / n for n in IMAGES if (folder / n).exists()]
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
    if fmt == "html":
        body = page.to_html(report, drawn.svg if drawn else None, no_chart)
        _write_text(path, body)
        return Written(path, (), tuple(notes))
    images: tuple[Path, ...] = ()
    links = None
    if drawn is not None:
        folder = files_folder(path)
        try:
            folder.mkdir(exist_ok=True)
        except OSError as e:
            raise CharLMError(f"cannot make {folder}: {e.strerror or e}") from None
        png, svg = (folder / n for n in IMAGES)
        _write_bytes(png, drawn.png)
        _write_text(svg, drawn.svg)
        images = (png, svg)
        links = tuple(urllib.parse.quote(f"{folder.name}/{n}") for n in IMAGES)
    _write_text(path, markdown.to_markdown(report, links, no_chart))  # type: ignore[arg-type]
    return Written(path, images, tuple(notes))


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
