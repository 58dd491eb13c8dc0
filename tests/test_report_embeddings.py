"""The report's embedding map: a picture per run beside the Markdown, inline in the HTML."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from charlm_tui.core.report.content import report_views
from charlm_tui.core.report.write import write_report
from charlm_tui.tui.cli import run
from tests.test_inspect import checkpoint
from tests.tui_helpers import fake_run

HOSTILE_VOCAB = "the cat sat on a mat; oh, we go!\n\x1b\x07[31m 42 <script>$x$"


def hostile_run(root: Path, name: str = "a") -> Path:
    """A run whose checkpoint's vocabulary holds an escape, a bell and markup."""
    path = fake_run(root, name, iters=100)
    checkpoint(path, HOSTILE_VOCAB * 4, "gpt")  # replaces its best.pt
    return path


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.captions: list[str] = []
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self._in_caption = tag == "figcaption"

    def handle_endtag(self, tag: str) -> None:
        self._in_caption = self._in_caption and tag != "figcaption"

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.captions.append(data)


def test_markdown_has_each_runs_map_as_png_and_svg_with_no_raw_controls(tmp_path: Path) -> None:
    runs = [hostile_run(tmp_path / "runs"), fake_run(tmp_path / "runs", "b")]
    out = tmp_path / "r.md"
    written = write_report(report_views(runs), out, written="now")
    folder = tmp_path / "r_files"
    for i in (1, 2):
        png, svg = folder / f"embeddings-{i}.png", folder / f"embeddings-{i}.svg"
        assert png in written.images and svg in written.images
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert "<svg" in svg.read_text(encoding="utf-8")
    text = out.read_text(encoding="utf-8")
    assert text.count("#### Character embeddings") == 2
    assert "![character embeddings, PCA](r_files/embeddings-1.png)" in text
    assert "(SVG: [r_files/embeddings-2.svg](r_files/embeddings-2.svg))" in text
    assert "first two principal components of its embedding table" in text
    assert f"each of its {len(set(HOSTILE_VOCAB))} characters" in text
    svg = (folder / "embeddings-1.svg").read_text(encoding="utf-8")
    for shown in (text, svg):
        assert not any(c in shown for c in "\x1b\x07"), "a raw control character"
    assert "\\x1b" in svg and "\\x07" in svg  # the labels, escaped (the text of its glyphs)
    assert "<script>" not in svg


def test_html_holds_each_map_inline_captioned_and_no_script(tmp_path: Path) -> None:
    path = hostile_run(tmp_path / "runs")
    out = tmp_path / "r.html"
    assert run(["report", str(path), "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(page)
    assert tags.tags.count("svg") == 2  # the loss chart and the run's map
    assert "script" not in tags.tags and "img" not in tags.tags
    assert "Content-Security-Policy" in page
    (caption,) = tags.captions
    assert caption.startswith("Character embeddings of a (best.pt, iteration 0)")
    assert "% of its variance" in caption
    assert not any(c in page for c in "\x1b\x07")
    assert not (tmp_path / "r_files").exists()  # self-contained


def test_a_run_without_a_checkpoint_gets_one_line(tmp_path: Path) -> None:
    path = fake_run(tmp_path / "runs", "a")
    for name in ("best.pt", "last.pt"):
        (path / name).unlink(missing_ok=True)
    out = tmp_path / "r.md"
    write_report(report_views([path]), out, written="now")
    text = out.read_text(encoding="utf-8")
    section = text.split("#### Character embeddings\n\n", 1)[1].split("\n", 1)[0]
    assert section == "*no embedding map: the run has no checkpoint*"
    assert not list((tmp_path / "r_files").glob("embeddings-*"))


def test_without_matplotlib_the_map_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    path = fake_run(tmp_path / "runs", "a")
    out = tmp_path / "r.md"
    write_report(report_views([path]), out, written="now")
    section = out.read_text(encoding="utf-8").split("#### Character embeddings\n\n", 1)[1]
    assert section.startswith("*the embedding maps need matplotlib, not installed here: ")
    assert '`pip install "charlm-tui[report]"`' in section.split("\n", 1)[0]
    assert not (tmp_path / "r_files").exists()


def test_a_diverged_run_gets_one_line(tmp_path: Path) -> None:
    import torch

    from charlm_tui.core.models.checkpoint import load_checkpoint, save_checkpoint

    path = fake_run(tmp_path / "runs", "a")
    ckpt = load_checkpoint(path / "best.pt")
    ckpt["model"]["wte.weight"][0, 0] = torch.nan
    save_checkpoint(ckpt, path / "best.pt")
    out = tmp_path / "r.md"
    write_report(report_views([path]), out, written="now")
    section = out.read_text(encoding="utf-8").split("#### Character embeddings\n\n", 1)[1]
    line = section.split("\n", 1)[0]  # load_model refuses the file, in one line
    assert line.startswith("*no embedding map: ") and line.endswith("holds NaN or infinite values*")
