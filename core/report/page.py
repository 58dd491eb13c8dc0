"""The report as one self-contained HTML page: its charts inline as SVG, its style in the
page, no scripts, nothing fetched from a network.

Every piece of untrusted text goes through html.escape (quotes too), after control
characters are shown as escapes (core/text/display.py): a sample holding `<script>` or
a fence of backticks is text on the page, never markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

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
from charlm_tui.core.report.charts import EmbeddingFigure
from charlm_tui.core.report.content import Report, RunPart, shown_above
from charlm_tui.core.report.groups import group_table, test_table
from charlm_tui.core.report.samples import shown_text
from charlm_tui.core.text.display import visible, visible_line

MARKER = '<meta name="generator" content="charlm-tui report">'
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; color: #1b1b1b; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f5f5f5; padding: 0.6rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.warning { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5rem; }
.note { color: #555555; font-size: 0.9rem; }
figure svg { max-width: 100%; height: auto; }
"""
_XML_PROLOGUE = re.compile(r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.IGNORECASE)


def h(text: str) -> str:
    """One line of untrusted text for the page: control characters shown, then escaped."""
    return escape(visible_line(text), quote=True)


def pre(text: str) -> str:
    """A block of untrusted text (a sample) as it was, lines kept, escaped."""
    return f"<pre>{escape(visible(text), quote=True)}</pre>"


def table(head: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    def cls(r: bool) -> str:
        return ' class="num"' if r else ""

    out = [
        "<table>",
        "<tr>"
        + "".join(f"<th{cls(r)}>{h(t)}</th>" for t, r in zip(head, right, strict=True))
        + "</tr>",
    ]
    for row in rows:
        cells = "".join(f"<td{cls(r)}>{h(c)}</td>" for c, r in zip(row, right, strict=True))
        out.append(f"<tr>{cells}</tr>")
    return "\n".join([*out, "</table>"])


def inline_svg(svg: str) -> str:
    """matplotlib's SVG document as an element of the page (its XML prologue dropped)."""
    return _XML_PROLOGUE.sub("", svg, count=1)


def to_html(
    report: Report,
    svg: str | None,
    no_chart: str,
    figures: Sequence[EmbeddingFigure] = (),
    spread: dict[str, str] | None = None,
) -> str:
    names = ", ".join(p.result.name for p in report.runs)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        MARKER,
        # Nothing on the page is fetched or run: say so to the browser too.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>Experiment log: {h(names)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<h1>Experiment log</h1>",
        f"<p>Written {h(report.written)} by charlm-tui · "
        f"{runs_word(len(report.runs))}: {h(names)}</p>",
    ]
    if report.corpus_warning:
        out.append(f'<p class="warning">{h(report.corpus_warning)}</p>')
    out += [f'<p class="note">{h(n)}</p>' for n in report.notes]
    out.append("<h2>Results</h2>")
    head, right = zip(*RESULT_COLUMNS, strict=True)
    out.append(table(head, [result_cells(p.result) for p in report.runs], right))
    out += [f'<p class="note">{h(LOSS_NOTE)}</p>', "<h2>Loss curves</h2>"]
    if svg is not None:
        out.append(f"<figure>{inline_svg(svg)}</figure>")
    else:
        out.append(f"<p><em>No chart: {h(no_chart)}</em></p>")
    out += spread_sections(report, spread or {})
    out.append("<h2>What differs</h2>")
    if report.differences:
        diff_head = ["option", *(p.result.name for p in report.runs)]
        rows = [[key, *values] for key, values in report.differences]
        out.append(table(diff_head, rows, [False] * len(diff_head)))
    elif len(report.runs) < 2:
        out.append("<p>One run: nothing to compare it with.</p>")
    else:
        out.append("<p>Nothing: every option is the same in every run.</p>")
    out.append("<h2>Runs</h2>")
    for i, part in enumerate(report.runs):
        out += run_section(part, figures[i] if i < len(figures) else None)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def spread_sections(report: Report, svgs: dict[str, str]) -> list[str]:
    """The seed groups (with Welch's tests) and the sweeps, each with its chart inline."""
    out: list[str] = []

    def html_table(t: Table) -> None:
        out.append(table(*t))  # it escapes every cell

    if report.groups:
        out += ["<h2>Seed groups</h2>", f'<p class="note">{h(GROUPS_NOTE)}</p>']
        html_table(group_table(report.groups))
        if report.tests:
            html_table(test_table(report.tests))
        if "groups" in svgs:
            out.append(f"<figure>{inline_svg(svgs['groups'])}</figure>")
    if report.sweeps:
        out.append("<h2>Sweeps</h2>")
        if "sweep" in svgs:
            out.append(f"<figure>{inline_svg(svgs['sweep'])}</figure>")
        html_table(sweep_table(report))
    return out


def run_section(part: RunPart, figure: EmbeddingFigure | None = None) -> list[str]:
    view = part.view
    out = [
        f"<h3>{h(part.result.name)}</h3>",
        f"<p>{h(run_line(part))}<br>Corpus: {h(view.corpus)} · folder: {h(str(view.path))}</p>",
    ]
    labels = view.labels
    if labels.tags:
        out.append(f'<p class="tags">Tags: {h(" ".join(labels.tags))}</p>')
    if labels.notes:
        out.append("<p>Notes: " + "<br>".join(h(n) for n in labels.notes.splitlines()) + "</p>")
    out.append("<h4>Model</h4>")
    rows = layer_rows(part)
    if rows:
        out.append(table(("layer", "type", "params"), rows, (False, False, True)))
    else:
        out.append("<p>No layer summary: the run has no start record.</p>")
    out += embedding_section(figure) if figure is not None else []
    out.append("<h4>Samples</h4>")
    if not part.samples:
        out.append("<p>None written during training.</p>")
    for s in part.samples:
        out += [
            f"<p>Iteration {s.iter:,}, temperature {s.temperature:g}:</p>",
            pre(shown_text(s.prompt, s.text)),
        ]
    if part.samples_left_out:
        where = h(f"{view.path}/samples.jsonl")
        out.append(f"<p>({part.samples_left_out} more samples in {where})</p>")
    final = part.final
    if final is not None and shown_above(part):
        out.append(
            f"<p>Final sample: iteration {final.iter:,}'s, above (the run's last iteration).</p>"
        )
    elif final is not None:
        out.append(f"<p>Final sample, {h(final.source)}, temperature {final.temperature:g}:</p>")
        out.append(pre(shown_text(final.prompt, final.text)))
    else:
        out.append(f"<p>No final sample: {h(part.final_problem)}.</p>")
    return out


def embedding_section(figure: EmbeddingFigure) -> list[str]:
    """A run's embedding map inline, captioned, or the one line saying why it has none."""
    out = ["<h4>Character embeddings</h4>"]
    if figure.chart is None:
        return [*out, f"<p><em>{h(figure.caption)}</em></p>"]
    caption = f"<figcaption>{h(figure.caption)}</figcaption>"
    return [*out, f"<figure>{inline_svg(figure.chart.svg)}{caption}</figure>"]
