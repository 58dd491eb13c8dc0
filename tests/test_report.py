"""`charlm-tui report`: the experiment log written as Markdown (chart images beside it) or
one HTML page; its numbers are compare's, its untrusted text cannot break either format,
and it replaces nothing that is not a report of ours."""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from charlm_tui.core.report.content import ChartOptions, build_report, report_views
from charlm_tui.core.report.curves import ema
from charlm_tui.core.report.markdown import fence, md_text
from charlm_tui.core.report.samples import SEED
from charlm_tui.core.report.write import write_report
from charlm_tui.core.runs.events import SampleEvent
from charlm_tui.core.runs.records import SamplesWriter
from charlm_tui.core.runs.rundir import LADDER, SAMPLES
from charlm_tui.tui.cli import run
from tests.conftest import make_text
from tests.train_helpers import new_training
from tests.tui_helpers import fake_run

HOSTILE = "```\n<script>alert(1)</script>\n\x1b]2;pwned\x07\x1b[2J ```` end"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real runs: a GPT that samples at its last iteration, a bigram that never does
    (its final sample is generated from best.pt)."""
    root = tmp_path_factory.mktemp("report")
    corpus = root / "play.txt"
    corpus.write_text(make_text(20_000), encoding="utf-8")
    over = dict(max_iters=30, eval_interval=10, log_interval=2, sample_chars=40)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHARLM_DATA_DIR", str(root / "data"))
        new_training(corpus, root / "runs" / "gpt-a", sample_interval=15, **over).run()
        new_training(corpus, root / "runs" / "bigram-b", "bigram", sample_interval=0, **over).run()
    return root / "runs"


def table_rows(text: str, heading: str) -> list[dict[str, str]]:
    """The Markdown table under `heading`, as dicts (cells unescaped of `\\|` only)."""
    block: list[str] = []
    for ln in text.split(heading, 1)[1].splitlines():
        if ln.startswith("|"):
            block.append(ln)
        elif block:
            break
    split = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in block]
    return [dict(zip(split[0], cells, strict=True)) for cells in split[2:]]


def test_markdown_report_of_real_runs_agrees_with_compare(
    trained: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "log.md"
    runs = [str(trained / "gpt-a"), str(trained / "bigram-b")]
    assert run(["report", *runs, "-o", str(out), "--full-eval"]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    results = table_rows(text, "## Results")
    assert [r["run"] for r in results] == ["gpt-a", "bigram-b"]
    assert run(["--no-ui", "compare", *runs, "--format", "json"]) == 0
    compared = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for r in results:
        want = compared[r["run"]]
        assert r["val loss"] == f"{want['val_loss']:.4f}"  # scored: no ~
        assert r["val top@1"] == f"{want['val_top1']:.2%}"
        assert r["train loss"] == f"~{want['train_loss']:.4f}"
        assert r["params"] == f"{want['params']:,}" and r["iters"] == "30"
        assert r["losses scored on"].startswith("val: full val split (")
        assert r["t_train"].endswith("s") and r["tokens/s"] != "–"
    # the chart, as PNG and SVG beside the file, linked from it
    png, svg = tmp_path / "log_files" / "loss.png", tmp_path / "log_files" / "loss.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "<svg" in svg.read_text()
    assert "](log_files/loss.png)" in text and "](log_files/loss.svg)" in text
    # only the options that differ, one column per run
    diff = {r["option"]: r for r in table_rows(text, "## What differs")}
    assert diff["model"]["gpt-a"] == "gpt" and diff["model"]["bigram-b"] == "bigram"
    assert "max_iters" not in diff and "sample_interval" in diff
    # each model's layers, with its total
    assert "| blocks.0 | Block |" in text and "| table | Embedding |" in text


def test_final_samples_are_the_runs_own_or_generated_the_same_every_time(
    trained: Path, tmp_path: Path
) -> None:
    views = report_views([trained / "gpt-a", trained / "bigram-b"])
    first = build_report(views, ChartOptions(), "now")
    gpt, bigram = first.runs
    assert gpt.final is not None and gpt.final.iter == 30
    assert gpt.final.text == views[0].samples[-1].text  # written at its last iteration
    assert bigram.final is not None and f"seed {SEED}" in bigram.final.source
    assert not bigram.samples and len(bigram.final.text) == 40
    again = build_report(report_views([trained / "bigram-b"]), ChartOptions(), "now")
    assert again.runs[0].final == bigram.final  # the same text from the same best.pt


def hostile_run(root: Path, name: str = "evil<script>|`x`") -> Path:
    path = fake_run(root, name, iters=100)
    writer = SamplesWriter(path / SAMPLES)  # its final sample: written at iteration 100
    writer.handle(SampleEvent(100, "\n", HOSTILE, 0.8, 1.0))
    writer.close()
    return path


def test_hostile_samples_cannot_break_the_markdown(tmp_path: Path) -> None:
    views = report_views([hostile_run(tmp_path / "runs")])
    out = tmp_path / "r.md"
    write_report(views, out, written="now")
    text = out.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text
    assert r"\x1b]2;pwned\x07\x1b[2J" in text  # shown, escaped, as a terminal would need
    # The sample's fence is longer than its longest run of backticks (4): no line of the
    # sample can close it, so everything up to the closing fence is the sample.
    start = text.index("`````text\n")
    end = text.index("\n`````\n", start)
    assert "<script>alert(1)</script>" in text[start:end]
    assert "```` end" in text[start:end]
    # the run's name is text in its heading and its table cell, never HTML or a cell break
    assert "### evil\\<script\\>\\|\\`x\\`" in text
    assert "<script>" not in text.replace(text[start:end], "")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_samples_cannot_break_the_html(tmp_path: Path) -> None:
    views = report_views([hostile_run(tmp_path / "runs"), fake_run(tmp_path / "runs", "b")])
    out = tmp_path / "r.html"
    assert run(["report", *(str(v.path) for v in views), "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    parsed = Tags()
    parsed.feed(page)
    assert "script" not in parsed.tags and "svg" in parsed.tags  # the chart is inline
    assert not any(t in parsed.tags for t in ("img", "link", "iframe", "object"))  # no fetches
    shown = "".join(parsed.text)
    assert "<script>alert(1)</script>" in shown  # as text
    assert "evil<script>|`x`" in shown and "\x1b" not in page
    assert not (tmp_path / "r_files").exists()  # self-contained


def test_without_matplotlib_the_report_says_how_to_get_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    path = fake_run(tmp_path / "runs", "a")
    out = tmp_path / "report.md"
    assert run(["report", str(path), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert 'pip install "charlm-tui[report]"' in text and "## Results" in text
    assert 'pip install "charlm-tui[report]"' in capsys.readouterr().err
    assert not (tmp_path / "report_files").exists()


def test_it_replaces_an_earlier_report_but_nothing_else_unless_told(tmp_path: Path, capsys) -> None:
    path = str(fake_run(tmp_path / "runs", "a"))
    mine = tmp_path / "notes.md"
    mine.write_text("my own notes\n")
    assert run(["report", path, "-o", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "not a charlm-tui report" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert mine.read_text() == "my own notes\n" and not (tmp_path / "notes_files").exists()
    assert run(["report", path, "-o", str(mine), "--overwrite"]) == 0
    assert "# Experiment log" in mine.read_text()
    assert run(["report", path, "-o", str(mine)]) == 0  # a report of ours: replaced
    # images in a folder the report did not write are not replaced either
    other = tmp_path / "other.md"
    (tmp_path / "other_files").mkdir()
    (tmp_path / "other_files" / "loss.png").write_bytes(b"a picture of mine")
    assert run(["report", path, "-o", str(other)]) == 2
    assert (tmp_path / "other_files" / "loss.png").read_bytes() == b"a picture of mine"
    assert not other.exists()
    for bad, says in (("x.txt", ".md"), (str(tmp_path), "is a folder")):
        assert run(["report", path, "-o", bad]) == 2
        assert says in capsys.readouterr().err
    assert run(["report", path, "--smooth", "1.5"]) == 2
    assert "--smooth" in capsys.readouterr().err


def test_a_ladder_expands_to_its_rungs_in_order_and_chart_options_reach_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ladder = tmp_path / "ladder-x"
    for name in ("zeta", "alpha"):
        fake_run(ladder, name, iters=100)
    (ladder / LADDER).write_text(json.dumps({"rungs": ["zeta", "alpha"]}))
    assert run(["report", str(ladder), "--x", "chars", "--log-y", "--smooth", "0.9"]) == 0
    text = Path("report.md").read_text(encoding="utf-8")  # the default: here
    assert [r["run"] for r in table_rows(text, "## Results")] == ["ladder-x/zeta", "ladder-x/alpha"]
    svg = Path("report_files/loss.svg").read_text()
    assert "characters seen" in svg and "EMA 0.9" in svg  # matplotlib keeps text as comments


def test_the_charts_smooth_as_the_dashboard_does() -> None:
    # The dashboard's smoothing, TensorBoard's debiased EMA: the first point stays put.
    assert ema([4.0, 2.0], 0.9) == pytest.approx([4.0, (0.9 * 0.1 * 4 + 0.1 * 2) / (1 - 0.81)])


def test_fences_and_markdown_escapes() -> None:
    assert fence("a ```` b").startswith("`````text\n")
    assert fence("plain").startswith("```text\n")
    assert fence("x\x1b[31m").splitlines()[1] == "x\\x1b[31m"
    assert md_text("a|b<c>\nd") == "a\\|b\\<c\\>\\nd"
    assert md_text("t_train ~2.5") == "t_train ~2.5"  # a lone _ or ~ marks nothing up
    assert md_text("_a_ ~~b~~") == "\\_a\\_ \\~\\~b\\~\\~"


def test_the_samples_show_their_prompt_and_unused_options_show_as_a_dash(
    tmp_path: Path, corpus_file: Path
) -> None:
    gpt, bigram = tmp_path / "gpt", tmp_path / "bigram"
    common = ["--data", str(corpus_file), "--max-iters", "20", "--eval-interval", "10"]
    assert run(["--no-ui", "train", "--preset", "tiny", *common, "--out", str(gpt),
                "--sample-prompt", "the k", "--sample-interval", "10"]) == 0  # fmt: skip
    assert run(["--no-ui", "train", "--preset", "bigram", *common, "--out", str(bigram)]) == 0
    out = tmp_path / "log.md"
    assert run(["report", str(gpt), str(bigram), "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    first = json.loads((gpt / "samples.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert "the k" + first["text"] in text  # the prompt, then what followed it
    # n_head is the tiny GPT's 2; the bigram reads none: a dash, not its preset's leftover
    assert re.search(r"\| n\\?_head \| 2 \| – \|", text), text


def test_a_fifo_or_a_folder_as_the_output_is_refused_without_blocking(
    tmp_path: Path, capsys
) -> None:
    import os

    run_dir = fake_run(tmp_path / "runs", "a")
    fifo = tmp_path / "f.md"
    os.mkfifo(fifo)
    assert run(["report", str(run_dir), "-o", str(fifo)]) == 2
    assert "not a regular file" in capsys.readouterr().err
    (tmp_path / "d.md").mkdir()
    assert run(["report", str(run_dir), "-o", str(tmp_path / "d.md")]) == 2
