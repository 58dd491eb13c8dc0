"""The report as Markdown: readable as it is on a terminal (`cat report.md`) and rendered
anywhere Markdown is.

Untrusted text never breaks out of its place: a table cell or a heading gets control
characters shown as escapes and Markdown's special characters backslash-escaped (a
`<script>` is text, not HTML); a sample sits in a code fence longer than any run of
backticks in it, so no line of it can close the fence, with its control characters
shown as escapes (core/text/display.py `visible`), since the file is read on terminals.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from charlm_tui.core.report.cells import (
    GROUPS_NOTE,
    LOSS_NOTE,
    RESULT_COLUMNS,
    Table,
    layer_rows,
    result_cells,
    run_line,
    runs_word,
    sweep_table,
)
from charlm_tui.core.report.charts import INSTALL, EmbeddingFigure
from charlm_tui.core.report.content import Report, RunPart, shown_above
from charlm_tui.core.report.groups import group_table, test_table
from charlm_tui.core.report.samples import shown_text
from charlm_tui.core.text.display import visible, visible_line

MARKER = "<!-- charlm-tui report: `charlm-tui report` may rewrite this file -->"
_SPECIAL = re.compile(r"([\\`\[\]<>|&])")
_PAIRED = "*_~"  # emphasis and strikethrough: only a pair of them marks anything up
_BACKTICKS = re.compile(r"`+")


def md_text(text: str) -> str:
    """One line of untrusted text for a table cell, a heading or a sentence: escapes for
    control characters and line breaks, Markdown's special characters escaped."""
    # Markdown's escapes first: the escapes visible_line then writes (`\x1b`, `\n`) are a
    # backslash before a letter, which Markdown shows as it is.
    shown = visible_line(_SPECIAL.sub(r"\\\1", text))
    for mark in _PAIRED:  # `t_train` and `~2.4982` stay readable on a terminal
        if shown.count(mark) > 1:
            shown = shown.replace(mark, "\\" + mark)
    return shown


def fence(text: str, info: str = "text") -> str:
    """A fenced code block that shows `text` and cannot be closed by it: its fence is
    longer than the longest run of backticks in the text (three at least)."""
    shown = visible(text)
    longest = max((len(m) for m in _BACKTICKS.findall(shown)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{shown.rstrip(chr(10))}\n{ticks}"


def table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    lines = ["| " + " | ".join(md_text(h) for h in head) + " |"]
    lines.append("|" + "|".join("---:" if r else "---" for r in right) + "|")
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(
    report: Report,
    images: tuple[str, str] | None,
    no_images: str,
    figures: Sequence[EmbeddingFigure] = (),
    spread: dict[str, tuple[str, str]] | None = None,
) -> str:
    """The whole report. `images`: the PNG's and the SVG's links, relative to the file;
    `no_images`: why there are none, when there are none; `figures`: each run's
    embedding map (or why it has none), in the runs' order; `spread`: the links of the
    seed groups' and the sweep's charts, by name."""
    names = ", ".join(md_text(p.result.name) for p in report.runs)
    out = [
        MARKER,
        "# Experiment log",
        "",
        f"Written {report.written} by charlm-tui · {runs_word(len(report.runs))}: {names}",
    ]
    if report.corpus_warning:
        out += ["", f"> **{md_text(report.corpus_warning)}**"]
    out += ["", *(f"> {md_text(n)}" for n in report.notes)] if report.notes else []
    out += ["", "## Results", ""]
    head, right = zip(*RESULT_COLUMNS, strict=True)
    out += [table(head, [result_cells(p.result) for p in report.runs], right)]
    out += ["", LOSS_NOTE, "", "## Loss curves", ""]
    if images is not None:
        png, svg = images
        out += [
            f"![train and val loss of every run]({png})",
            "",
            f"The same chart as SVG: [{svg}]({svg})",
        ]
    else:
        # our own words (no run's text): the pip command as code, to copy as it is
        out += [f"*No chart: {no_images.replace(INSTALL, f'`{INSTALL}`')}*"]
    out += spread_sections(report, spread or {})
    out += ["", "## What differs", ""]
    if report.differences:
        diff_head = ["option", *(p.result.name for p in report.runs)]
        rows = [[key, *values] for key, values in report.differences]
        out += [table(diff_head, rows, [False] * len(diff_head))]
    elif len(report.runs) < 2:
        out += ["One run: nothing to compare it with."]
    else:
        out += ["Nothing: every option is the same in every run."]
    out += ["", "## Runs"]
    for i, part in enumerate(report.runs):
        out += ["", *run_section(part, figures[i] if i < len(figures) else None)]
    return "\n".join(out) + "\n"


def spread_sections(report: Report, links: dict[str, tuple[str, str]]) -> list[str]:
    """The seed groups (with Welch's tests) and the sweeps, each with its chart."""
    out: list[str] = []

    def chart(name: str, alt: str) -> None:
        if name in links:
            png, svg = links[name]
            out.extend(["", f"![{alt}]({png})", "", f"The same chart as SVG: [{svg}]({svg})"])

    def md_table(t: Table) -> None:
        out.extend(["", table(*t)])  # it escapes every cell

    if report.groups:
        out += ["", "## Seed groups", "", md_text(GROUPS_NOTE)]
        md_table(group_table(report.groups))
        if report.tests:
            md_table(test_table(report.tests))
        chart("groups", "mean val loss of each seed group, with its runs' min–max band")
    if report.sweeps:
        out += ["", "## Sweeps"]
        chart("sweep", "best val loss against each swept option")
        md_table(sweep_table(report))
    return out


def run_section(part: RunPart, figure: EmbeddingFigure | None = None) -> list[str]:
    view = part.view
    out = [f"### {md_text(part.result.name)}", "", md_text(run_line(part)), ""]
    out += [f"Corpus: {md_text(view.corpus)} · folder: {md_text(str(view.path))}", ""]
    labels = view.labels
    out += [f"Tags: {md_text(' '.join(labels.tags))}", ""] if labels.tags else []
    if labels.notes:  # one paragraph: its lines joined by Markdown's hard breaks
        lines = [md_text(line) for line in labels.notes.splitlines()]
        out += ["Notes: " + "  \n".join(lines), ""]
    out += ["#### Model", ""]
    rows = layer_rows(part)
    if rows:
        out += [table(("layer", "type", "params"), rows, (False, False, True))]
    else:
        out += ["No layer summary: the run has no start record."]
    out += embedding_section(figure) if figure is not None else []
    out += ["", "#### Samples", ""]
    if not part.samples:
        out += ["None written during training.", ""]
    for s in part.samples:
        out += [
            f"Iteration {s.iter:,}, temperature {s.temperature:g}:",
            "",
            fence(shown_text(s.prompt, s.text)),
            "",
        ]
    if part.samples_left_out:
        out += [
            f"({part.samples_left_out} more samples in {md_text(str(view.path))}/samples.jsonl)",
            "",
        ]
    final = part.final
    if final is not None and shown_above(part):
        out += [f"Final sample: iteration {final.iter:,}'s, above (the run's last iteration)."]
    elif final is not None:
        out += [f"Final sample, {md_text(final.source)}, temperature {final.temperature:g}:"]
        out += ["", fence(shown_text(final.prompt, final.text))]
    else:
        out += [f"No final sample: {md_text(part.final_problem)}."]
    return out


def embedding_section(figure: EmbeddingFigure) -> list[str]:
    """A run's embedding map with its caption, or the one line saying why it has none."""
    out = ["", "#### Character embeddings", ""]
    if figure.chart is None or figure.files is None:
        # our own words, escaped; the pip command as code, to copy as it is
        line = f"`{INSTALL}`".join(md_text(piece) for piece in figure.caption.split(INSTALL))
        return [*out, f"*{line}*"]
    png, svg = figure.files
    return [*out, f"![character embeddings, PCA]({png})", "", md_text(figure.caption),
            f"(SVG: [{svg}]({svg}))"]  # fmt: skip
