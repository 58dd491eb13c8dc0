"""Display rules (tui/formatting.py): untrusted text, status words, shortened paths, --help.

The rules every screen and the headless console share."""

from __future__ import annotations

import io
import json
import re
import unicodedata
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from charlm_tui.core.runs.events import NoteEvent, SampleEvent, StartEvent
from charlm_tui.core.runs.rundir import CONFIG
from charlm_tui.core.training.steering import STOPS
from charlm_tui.tui.cli import app as cli_app
from charlm_tui.tui.cli import run
from charlm_tui.tui.console import ConsolePrinter
from charlm_tui.tui.formatting import (
    DONE_REASONS,
    ESCAPE_STYLE,
    STATUS_WORDS,
    shorten_middle,
    status_word,
    visible,
    visible_text,
)
from tests.tui_helpers import fake_run

# What a corpus or a model may write, and what it must look like on a terminal.
HOSTILE = {
    "\x1b]2;PWNED\x07abc": "\\x1b]2;PWNED\\x07abc",  # OSC 2: retitles the window
    "\x1bc": "\\x1bc",  # RIS: resets the terminal
    "\x1b[31mred": "\\x1b[31mred",  # SGR: colours the screen
    "bell\x07": "bell\\x07",
    "back\x08space": "back\\x08space",
    "carriage\rreturn": "carriage\\rreturn",
    "nul\x00": "nul\\x00",
    "del\x7f": "del\\x7f",
    "c1 \x9b31m": "c1 \\x9b31m",  # CSI as one C1 byte
    "\x1b]52;c;SGVsbG8=\x07": "\\x1b]52;c;SGVsbG8=\\x07",  # OSC 52: writes the clipboard
    "left \u202eright": "left \\u202eright",  # bidi override
    "iso \u2066late\u2069": "iso \\u2066late\\u2069",  # bidi isolate
    "zero\u200bwidth": "zero\\u200bwidth",
    "\ufeffbom": "\\ufeffbom",
    "tag a\U000e0041b": "tag a\\U000e0041b",  # an invisible ASCII look-alike
    "line\u2028sep": "line\\u2028sep",
    "\u200dalone": "\\u200dalone",  # a joiner joining nothing
}
KEPT = [
    "plain ASCII, [bold] and [/] and \\x1b typed as text",
    "lines\nand\ttabs\n",
    "Ünïcödé café — 日本語 Ελληνικά العربية עברית 한국어",
    "e\u0301 combining accent",
    "👩\u200d💻 a ZWJ emoji sequence",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 (ZWNJ inside a Persian word)",
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Scotland's flag",
    "no-break\xa0space",
]


@pytest.mark.parametrize("raw, shown", HOSTILE.items())
def test_visible_shows_control_and_invisible_characters_as_escapes(raw: str, shown: str) -> None:
    assert visible(raw) == shown


@pytest.mark.parametrize("text", KEPT)
def test_visible_keeps_text_and_layout_as_they_are(text: str) -> None:
    assert visible(text) == text


def _dangerous(ch: str) -> bool:
    return ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


@given(st.text(alphabet=st.characters(codec="utf-8") | st.characters(max_codepoint=0x9F)))
def test_visible_never_lets_a_control_character_through(text: str) -> None:
    shown = visible(text)
    assert not any(_dangerous(ch) for ch in shown)
    assert not any(0x202A <= ord(ch) <= 0x202E or 0x2066 <= ord(ch) <= 0x2069 for ch in shown)
    assert visible(shown) == shown  # showing twice changes nothing more


def test_visible_text_marks_what_it_escaped_and_is_never_markup() -> None:
    text = visible_text("a\x1bb [bold]\\x1b", "dim")
    assert text.plain == "a\\x1bb [bold]\\x1b"
    assert [(s.start, s.end, s.style) for s in text.spans] == [(1, 5, ESCAPE_STYLE)]


@pytest.mark.parametrize("width", [1, 5, 12, 20, 40])
def test_shorten_middle_fits_and_keeps_the_file_name(width: int) -> None:
    path = "/home/someone/data/corpora/of/many/folders/names.txt"
    short = shorten_middle(path, width)
    assert cell_len(short) <= width
    if width >= 12:
        assert short.endswith("/names.txt") and short.startswith("/") and "…" in short
    assert shorten_middle("日本語のファイル名です.txt", 11) == "日本….txt"
    assert shorten_middle("short", 40) == "short"


def test_one_set_of_status_words() -> None:
    # Every way a run can end (the trainer's done reasons, the signals') has its word.
    assert set(DONE_REASONS) | {s.reason for s in STOPS} <= set(STATUS_WORDS)
    assert {"running", "paused", "killed", "new", "unreadable"} <= set(STATUS_WORDS)
    assert all(status_word(w) == w for w in STATUS_WORDS)
    assert status_word("odd\x1b[31m") == "odd\\x1b[31m"  # a foreign record: shown, escaped


# -- the headless console ------------------------------------------------------------------


def printed(terminal: bool, events: list) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, color_system=None, width=200)
    printer = ConsolePrinter(console, progress=False)
    for event in events:
        printer.handle(event)
    return out.getvalue()


def test_console_escapes_samples_on_a_terminal_and_in_pipes_and_logs() -> None:
    """The training's console output is a log: train.log or a pipe is read on a terminal
    later (`cat`, `grep`, `less -R`), so its samples are escaped there too; the exact
    text is in samples.jsonl."""
    text = "".join(HOSTILE)
    events = [SampleEvent(10, "\n", text, 0.8, 1.0), NoteEvent(11, "note \x1b[2J")]
    for terminal in (True, False):
        out = printed(terminal, events)
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out
        assert "\\x1b]2;PWNED\\x07abc" in out and "\\x1b[2J" in out


def test_console_progress_shows_a_pause_and_its_end() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    printer = ConsolePrinter(console, progress=True)
    start = StartEvent(
        0, None, "gpt", "x", 100, None, 10, 5, 90, 10, "cpu", 1, 1, False
    )  # fmt: skip
    printer.handle(start)
    printer.handle(NoteEvent(5, "paused from the dashboard"))
    assert printer.progress.tasks[0].fields["eta"] == "paused"
    printer.handle(NoteEvent(5, "resumed"))
    assert printer.progress.tasks[0].fields["eta"] != "paused"
    printer.close()


# -- the CLI ----------------------------------------------------------------------------------


def help_of(args: list[str], capsys) -> str:
    assert run([*args, "--help"]) == 0
    return capsys.readouterr().out


def test_no_help_shows_a_bool_metavar_or_a_braced_argument(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    command = typer.main.get_command(cli_app)
    for args in [[], *([name] for name in command.commands)]:
        text = help_of(args, capsys)
        assert "<bool>" not in text, args
        assert not re.search(r"\{[A-Za-z_]+\}", text), (args, text)
    assert "Usage: charlm-tui sample [OPTIONS] CHECKPOINT" in help_of(["sample"], capsys)
    assert "Usage: charlm-tui watch [OPTIONS] RUN" in help_of(["watch"], capsys)
    assert "Usage: charlm-tui compare [OPTIONS] RUN..." in help_of(["compare"], capsys)
    assert "Usage: charlm-tui runs [OPTIONS] [DIR]" in help_of(["runs"], capsys)
    assert "interrupted" in help_of(["runs"], capsys)  # the status words are explained
    for name in ("sample", "train", "eval"):
        assert re.search(r"--device .*\[default: auto\]", help_of([name], capsys), re.S)


def test_runs_shows_names_and_corpora_literally_and_escaped(tmp_path: Path, capsys) -> None:
    run_dir = fake_run(tmp_path, "[bold]x\x1b]2;PWNED\x07")
    config = json.loads((run_dir / CONFIG).read_text())
    config["train"]["data"] = "/data/[/]odd\x1bc.txt"
    (run_dir / CONFIG).write_text(json.dumps(config))
    assert run(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold]x\\x1b]2;PWNED\\x07" in out and "/data/[/]odd\\x1bc.txt" in out
    assert "finished" in out


# -- the system strip -------------------------------------------------------------------------


def test_system_strip_reads_the_training_process_that_holds_the_lock(tmp_path: Path) -> None:
    import os

    from charlm_tui.core.runs.rundir import RunLock
    from charlm_tui.core.runs.view import RunView
    from charlm_tui.tui.widgets.system_strip import SystemStrip, holds_lock, lock_pid, read_proc

    lock = RunLock(tmp_path)
    lock.acquire()  # this process plays the trainer: its pid in .lock, the lock held
    try:
        assert lock_pid(tmp_path) == os.getpid()
        assert holds_lock(os.getpid(), tmp_path)
        assert not holds_lock(os.getppid(), tmp_path)  # a namesake pid is not the trainer
        sample = read_proc(os.getpid())
        assert sample is not None and sample.rss > 0 and sample.cpu_s > 0
        strip = SystemStrip(tmp_path)
        state = RunView(tmp_path)
        for dt in (0.010, 0.012, 0.011, 0.030):
            state.step_times.append(dt)
        strip.sample_process(live=True)
        line = strip.line(state, live=True, device="cpu").plain
        assert line.startswith("trainer cpu … · rss ") and "MiB" in line
        assert "step 12 ms (10–25)" in line and "load " in line  # median, 10th-90th
    finally:
        lock.release()
    (tmp_path / ".lock").write_text("12345678\n")  # another machine's pid: not read
    strip = SystemStrip(tmp_path)
    strip.sample_process(live=True)
    assert strip.line(RunView(tmp_path), live=True, device="cpu").plain.startswith(
        "trainer cpu n/a"
    )
    (tmp_path / ".lock").write_text("garbage")
    assert lock_pid(tmp_path) is None


def test_gpu_memory_asks_nvidia_smi_and_degrades(tmp_path: Path, monkeypatch) -> None:
    from charlm_tui.tui.widgets.system_strip import gpu_memory

    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_memory("cuda:0", 1234) == "n/a"  # no nvidia-smi
    fake = tmp_path / "nvidia-smi"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *compute-apps*) echo "1234, 812"; echo "77, 5000";;\n'
        '*) echo "40960, 81559";; esac\n'
    )
    fake.chmod(0o755)
    assert gpu_memory("cuda:0", 1234) == "812 MiB"
    assert gpu_memory("cuda", 999) == "40.0/79.6 GiB (all)"  # not visible: the whole GPU
