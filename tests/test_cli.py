"""The CLI as a user meets it: end to end, and every bad input."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from charlm_tui.core.models.checkpoint import load_checkpoint, load_model
from charlm_tui.core.runs.events import DoneEvent, EvalEvent, StartEvent, StepEvent
from charlm_tui.core.runs.records import read_records
from charlm_tui.tui.cli import run
from tests.train_helpers import CLI, DDP_CLI, ROOT, TORCHRUN, run_captured, spawn_piped, train_argv
from tests.tui_helpers import fake_run
from tests.waiting import wait_until

EVAL_LINE = re.compile(
    r"^iter \d+ \| t_train [\d.]+s t_eval [\d.]+s \| train loss [\d.]+ top@1 [\d.]+% "
    r"top@5 [\d.]+% \| val loss [\d.]+ top@1 [\d.]+% top@5 [\d.]+%"
)


def files_under(path: Path) -> dict[str, bytes]:
    if not path.exists():
        return {}
    return {str(p): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_train_sample_eval_runs_end_to_end(tiny_args, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    evals = [ln for ln in printed.splitlines() if ln.startswith("iter ")]
    assert len(evals) == 4 and all(EVAL_LINE.match(ln) for ln in evals), evals
    assert printed.count("-" * 60) == 2 * 3  # three samples, each framed by separators
    assert "total" in printed and "blocks.0" in printed  # the model summary

    assert (
        run(
            [
                "--no-ui",
                "sample",
                str(out / "best.pt"),
                "--prompt",
                "KING",
                "--seed",
                "3",
                "--max-new-tokens",
                "40",
            ]
        )
        == 0
    )
    first = capsys.readouterr().out
    assert first.startswith("KING") and len(first.rstrip("\n")) == 44
    run(
        ["--no-ui", "sample", str(out), "--prompt", "KING", "--seed", "3", "--max-new-tokens", "40"]
    )
    assert capsys.readouterr().out == first  # same seed, same checkpoint: same text
    # Into a pipe or a file (no terminal), without --no-ui: the same text, not a refusal.
    assert (
        run(["sample", str(out), "--prompt", "KING", "--seed", "3", "--max-new-tokens", "40"]) == 0
    )
    assert capsys.readouterr().out == first
    assert run(["inspect", str(out), "--text", "KING HENRY"]) == 0
    assert "mean loss" in capsys.readouterr().out
    exact = ["--no-ui", "sample", str(out), "--prompt", "KING", "--max-new-tokens", "40"]
    assert run([*exact, "--precision", "fp32"]) == 0
    assert capsys.readouterr().out.startswith("KING")

    assert run(["eval", str(out / "best.pt"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    val_chars = round(30_000 * 0.1)
    assert result["positions"] == val_chars - 1  # every position of the split
    assert 0 < result["top1"] <= result["top5"] <= 1
    assert result["bpc"] == pytest.approx(result["loss"] / 0.6931471805599453)
    assert run(["eval", str(out), "--split", "train"]) == 0
    assert "train of" in capsys.readouterr().out

    assert run(["runs", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "run" in table and "gpt 1×2×32" in table and "finished" in table


def test_output_dir_with_a_run_is_refused_then_resumed_or_overwritten(
    tiny_args, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 0
    before = files_under(out)
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert files_under(out) == before
    assert run(["--no-ui", "train", "--out", str(out), "--resume", "--max-iters", "40"]) == 0
    assert "resuming" in capsys.readouterr().out
    finished = files_under(out)  # and nothing is left to train: it says how to extend it
    assert run(["--no-ui", "train", "--out", str(out), "--resume"]) == 2
    assert "nothing is left to train; pass a longer --max-iters" in capsys.readouterr().err
    assert files_under(out) == finished
    assert run(["--no-ui", "train", "--out", str(out), "--resume", "--n-layer", "3"]) == 2
    assert "--n-layer cannot change when resuming" in capsys.readouterr().err
    assert run(["--no-ui", "train", *tiny_args, "--out", str(out), "--overwrite"]) == 0


def bad_inputs(tmp: Path, corpus: Path) -> list[tuple[list[str], str]]:
    (tmp / "empty.txt").write_bytes(b"")
    (tmp / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1") * 100)
    (tmp / "short.txt").write_text("short text " * 5, encoding="utf-8")
    (tmp / "junk.pt").write_bytes(os.urandom(500))
    if not (tmp / "fifo.pt").exists():
        os.mkfifo(tmp / "fifo.pt")  # opening it to read would wait forever for a writer
    fake_run(tmp, "a-run", iters=10)  # so that --out tmp holds other runs
    train = ["--no-ui", "train", "--preset", "tiny", "--max-iters", "5"]
    return [
        ([*train, "--data", str(tmp / "nope.txt")], "no such file, directory or built-in"),
        ([*train, "--data", str(tmp / "empty.txt")], "is empty"),
        ([*train, "--data", str(tmp / "latin1.txt")], "not valid UTF-8: byte 0xe9 at offset 3"),
        ([*train, "--data", str(tmp / "short.txt")], "split has"),
        ([*train, "--data", str(corpus), "--n-embd", "30", "--n-head", "4"], "divisible"),
        (
            [*train, "--data", str(corpus), "--batch-size", "0"],
            "--batch-size must be in [1, 65,536]",
        ),
        ([*train, "--data", str(corpus), "--lr", "-0.1"], "--lr must be greater"),
        (
            ["--no-ui", "train", "--data", str(corpus), "--time-budget", "-5"],
            "--time-budget must be in (0, 1e+07]",
        ),
        ([*train, "--time-budget", "5"], "exactly one of --max-iters and --time-budget"),
        ([*train, "--data", str(corpus), "--dropout", "1.5"], "--dropout must be in"),
        (
            [*train, "--data", str(corpus), "--block-size", "0"],
            "--block-size must be in [1, 65,536]",
        ),
        (["--no-ui", "train", "--preset", "huge"], "'huge' is not one of"),
        ([*train, "--model", "transformerxl"], "'transformerxl' is not one of"),
        ([*train, "--activation", "tanh"], "'tanh' is not one of 'gelu', 'relu2'"),
        ([*train, "--position", "alibi"], "'alibi' is not one of 'learned', 'rope'"),
        ([*train, "--optimizer", "sgd"], "'sgd' is not one of 'adamw', 'muon'"),
        ([*train, "--position", "rope", "--n-embd", "30", "--n-head", "6"], "even head size"),
        ([*train, "--data", "klingon"], "built-ins: python, shakespeare"),
        ([*train, "--data", str(corpus), "--max-iters", "x"], "Invalid value for '--max-iters'"),
        ([*train, "--bogus"], "No such option: --bogus"),
        (["--no-ui", "train", "--resume"], "--resume needs the run"),
        (["--no-ui", "sample", str(tmp / "junk.pt")], "not a readable checkpoint"),
        (["--no-ui", "sample", str(tmp / "missing.pt")], "no such checkpoint file"),
        (["--no-ui", "sample", str(tmp / "junk.pt"), "--precision", "fp16"], "'fp16' is not one"),
        (["eval", str(tmp)], "holds no checkpoint"),
        (["runs", str(tmp / "nowhere")], "no such directory"),
        # Limits, ranges and names out of bounds: a one-line refusal each, no traceback.
        ([*train, "--data", str(corpus), "--seed", str(2**64)], "--seed must be in"),
        ([*train, "--data", str(corpus), "--seed", "-1"], "--seed must be in"),
        ([*train, "--data", str(corpus), "--eval-iters", "100000000"], "--eval-iters must be in"),
        ([*train, "--data", str(corpus), "--sample-chars", "100000000"], "--sample-chars must"),
        ([*train, "--data", str(corpus), "--threads", "999"], "--threads"),
        ([*train, "--data", str(corpus), "--n-embd", "65536"], "--n-embd must be in"),
        ([*train, "--data", str(corpus), "--batch-size", "100000000"], "--batch-size must be in"),
        (
            [*train, "--data", str(corpus), "--batch-size", "65536", "--block-size", "8192"],
            "GiB for one training step",
        ),
        ([*train, "--data", str(corpus), "--name", "bad\nname"], "control characters"),
        ([*train, "--data", str(corpus), "--name", "x" * 300], "longer than 255 bytes"),
        ([*train, "--data", str(corpus), "--out", str(tmp / ("y" * 300))], "longer than 255"),
        ([*train, "--data", str(tmp / ("z" * 300))], "longer than 255"),
        ([*train, "--data", str(corpus), "--out", str(tmp)], "holds other runs"),
        (["--no-ui", "sample", str(tmp / "junk.pt"), "--seed", str(2**64)], "--seed must be in"),
        (["--no-ui", "sample", str(tmp / ("w" * 300))], "File name too long"),
        (["--no-ui", "sample", str(tmp / "fifo.pt")], "is a FIFO, not a checkpoint file"),
        (["--no-ui", "sample", str(tmp / "junk.pt"), "--device", "bogus"], "--device must be"),
        (["--no-ui", "sample", str(tmp / "junk.pt"), "--device", "meta"], "--device must be"),
        (["--no-ui", "sample", str(tmp / "junk.pt"), "--device", "xpu"], "--device must be"),
        (["--no-ui", "sample", str(tmp / "junk.pt"), "--device", "cuda:3"], "--device cuda:3"),
        (["eval", str(tmp / "junk.pt"), "--device", "bogus"], "--device must be"),
        (["eval", str(tmp / "junk.pt"), "--device", "cuda:3"], "--device cuda:3"),
        (
            ["--no-ui", "train", "--out", str(tmp / "r"), "--allow-data-change"],
            "goes with --resume",
        ),
    ]


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(
    corpus_file: Path, tmp_path: Path, capsys
) -> None:
    runs_dir = Path(os.environ["CHARLM_RUNS_DIR"])
    before = files_under(runs_dir)
    for argv, message in bad_inputs(tmp_path, corpus_file):
        code = run(argv)
        captured = capsys.readouterr()
        assert code == 2, (argv, captured)
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("charlm-tui: error: "), (argv, lines)
        assert message in lines[0], (argv, lines[0])
        assert "Traceback" not in captured.err + captured.out
    assert files_under(runs_dir) == before


def test_prompt_outside_vocabulary_lists_the_characters(tiny_args, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    run(["--no-ui", "train", *tiny_args, "--max-iters", "5", "--out", str(out)])
    capsys.readouterr()
    assert run(["--no-ui", "sample", str(out), "--prompt", "KING€Z"]) == 2
    err = capsys.readouterr().err
    assert "'€'" in err and "'Z'" in err and "vocabulary" in err
    assert run(["--no-ui", "sample", str(out), "--top-p", "0"]) == 2
    assert run(["eval", str(out), "--data", str(Path(__file__))]) == 2  # other characters


def test_ctrl_c_saves_last_checkpoint_and_exits_130(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = train_argv(corpus_file, out, max_iters=100_000, eval_interval=20)
    proc = spawn_piped(argv, text=True)

    def steps() -> list[StepEvent]:
        return [e for e in read_records(out / "metrics.jsonl") if isinstance(e, StepEvent)]

    wait_until(steps, "the run's first step record")  # training for real
    first_step = steps()[0]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted, saved at iter" in stdout
    assert load_checkpoint(out / "last.pt")["iter"] >= first_step.iter > 0


def test_headless_training_never_imports_textual(corpus_file: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from charlm_tui.tui.cli import run; "
        f"rc = run(['--no-ui', 'train', '--preset', 'tiny', '--data', {str(corpus_file)!r}, "
        f"'--max-iters', '3', '--out', {str(tmp_path / 'r')!r}]); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual'); "
        "print('TEXTUAL', bad); sys.exit(rc)"
    )
    result = run_captured([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    assert "TEXTUAL []" in result.stdout


def test_training_flushes_denormals_on_every_thread(corpus_file: Path, tmp_path: Path) -> None:
    """core.device.denormals_flushed must be entered before torch's thread pool exists,
    or only the main thread flushes: while a CLI run trains, 4M products of the smallest
    denormal (made from its bits, not by arithmetic, which would flush it), split
    between the threads, must all be zero; after it, the main thread keeps them again."""
    code = (
        "import sys, torch; import charlm_tui.core.training.trainer as T\n"
        "from charlm_tui.tui.cli import run\n"
        "def kept():\n"
        "    x = torch.ones(4_000_000, dtype=torch.int32).view(torch.float32)\n"
        "    return int((x * 1.0).count_nonzero())\n"
        "loop = T.Trainer._loop\n"
        "def probed(self, steering):\n"
        "    print('DURING', kept(), torch.get_num_threads())\n"
        "    return loop(self, steering)\n"
        "T.Trainer._loop = probed\n"
        f"rc = run(['--no-ui', 'train', '--preset', 'tiny', '--data', {str(corpus_file)!r}, "
        f"'--max-iters', '1', '--out', {str(tmp_path / 'r')!r}])\n"
        "one = torch.ones(1, dtype=torch.int32).view(torch.float32)\n"
        "print('AFTER', int((one * 1.0).count_nonzero()), 'SUPPORTED', "
        "torch.set_flush_denormal(True)); sys.exit(rc)"
    )
    result = run_captured([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr
    if "SUPPORTED False" in result.stdout:
        pytest.skip("this CPU has no flush-to-zero mode")
    assert "DURING 0 " in result.stdout, result.stdout
    assert "AFTER 1 " in result.stdout, result.stdout


def test_help_teaches(capsys) -> None:
    assert run(["--help"]) == 0
    assert "--no-ui train --preset tiny" in capsys.readouterr().out
    assert run(["train", "--help"]) == 0
    helptext = capsys.readouterr().out
    for option in ("--time-budget", "--preset", "--resume", "--overwrite", "--data"):
        assert option in helptext


def test_torchrun_ddp_two_processes_only_rank_0_writes(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    argv = train_argv(
        corpus_file, out, command=DDP_CLI, max_iters=20, eval_interval=10, sample_interval=0
    )
    result = run_captured(argv, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("iter 10 |") == 1  # printed once, by rank 0
    events = read_records(out / "metrics.jsonl")
    assert [e.iter for e in events if isinstance(e, EvalEvent)] == [0, 10, 20]
    starts = [e for e in events if isinstance(e, StartEvent)]
    assert len(starts) == 1 and starts[0].world_size == 2
    assert load_checkpoint(out / "last.pt")["iter"] == 20


def test_ddp_nan_on_one_rank_stops_every_rank_without_hanging(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp"
    driver = (*TORCHRUN, str(ROOT / "tests" / "ddp_diverge_driver.py"))
    # Rank 1 must not raise alone while rank 0 waits in the all-reduce (a hang, then a timeout).
    result = run_captured(train_argv(corpus_file, out, command=driver, max_iters=20))
    assert result.returncode != 0
    done = [e for e in read_records(out / "metrics.jsonl") if isinstance(e, DoneEvent)]
    assert len(done) == 1 and done[0].reason == "diverged"
    assert done[0].message.startswith("iteration 3: the gradient norm is nan")
    ours = [ln for ln in result.stderr.splitlines() if ln.startswith("charlm-tui: ")]
    assert sorted(ours) == sorted(  # one line from each rank; no traceback from our code
        f"charlm-tui: iteration 3: the {what} is nan; stopped before the optimizer step; "
        "the checkpoints keep the last finite weights (try a lower --lr)"
        for what in ("loss", "gradient norm")
    )
    load_model(out / "best.pt")  # the checkpoint on disk is finite and loads


def test_help_paragraphs_rewrap_to_the_terminal() -> None:
    from charlm_tui.tui.cli import app
    from charlm_tui.tui.cli.common import paragraphs

    doc = """First line
    goes on.

    Example:

      charlm-tui one
      charlm-tui two
    """
    assert (
        paragraphs(doc) == "First line goes on.\n\nExample:\n\n  charlm-tui one\n  charlm-tui two"
    )
    for info in app.registered_commands:  # every command's help, as --help reads it
        for para in (info.help or "").split("\n\n"):
            assert "\n" not in para or para.startswith(" "), para


# -- the examples in --help ---------------------------------------------------------------

PLACEHOLDERS = {
    "my.txt",
    "myrun.toml",
    "checkpoints/myrun",
    "checkpoints/run-a",
    "checkpoints/run-b",
}


def help_examples() -> list[tuple[str, list[str]]]:
    """(command, argv after `charlm-tui`) of every example line in every command's help."""
    import shlex

    import typer.main
    from typer.testing import CliRunner

    from charlm_tui.tui.cli import app

    found = []
    for name in typer.main.get_command(app).commands:  # type: ignore[attr-defined]
        out = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"}).output
        assert "..." not in out.splitlines()[1].replace("RUN...", ""), out.splitlines()[1]
        for line in out.splitlines():
            if (line := line.strip(" │")).startswith("charlm-tui "):
                words = shlex.split(line)[1:]
                # `charlm-tui config RUN > FILE`: the shell's redirection is not an argument
                found.append((name, words[: words.index(">")] if ">" in words else words))
    return found


def test_every_help_example_parses_and_names_real_things() -> None:
    import typer.main
    from typer import _click as click

    from charlm_tui.core.experiments.ladder import default_name
    from charlm_tui.core.text.corpora import BUILTINS
    from charlm_tui.tui.cli import app

    group = typer.main.get_command(app)
    examples = help_examples()
    assert {"train", "compare", "ladder", "steer"} <= {name for name, _ in examples}
    ladders: set[str] = set()
    examples.sort(key=lambda e: e[0] != "ladder")  # the ladders first: compare names them
    for name, argv in examples:
        root = group.make_context("charlm-tui", list(argv))
        rest = root._protected_args + root.args
        command = group.get_command(root, rest[0])
        assert command is not None and rest[0] == name, argv
        try:
            params = command.make_context(name, rest[1:], parent=root).params
        except click.exceptions.ClickException as e:
            pytest.fail(f"charlm-tui {' '.join(argv)}: {e.format_message()}")
        data = params.get("data")
        assert data is None or data in BUILTINS or data in PLACEHOLDERS, argv
        if name == "ladder":
            ladders.add(f"checkpoints/{default_name(data, params['time_budget'])}")
        for value in params.values():
            paths = value if isinstance(value, (list, tuple)) else [value]
            for path in (str(p) for p in paths if isinstance(p, Path)):
                assert path in PLACEHOLDERS or path in ladders, (argv, path)


def test_no_ui_after_the_command_version_and_completion(tiny_args, tmp_path: Path, capsys) -> None:
    from charlm_tui import __version__

    out = tmp_path / "run"
    assert run(["train", "--no-ui", *tiny_args, "--out", str(out)]) == 0  # headless
    assert "done at iter" in capsys.readouterr().out
    assert run(["runs", "--no-ui", str(tmp_path)]) == 0
    assert "finished" in capsys.readouterr().out
    version = run_captured([*CLI, "--version"])
    assert version.returncode == 0 and version.stdout == f"charlm-tui {__version__}\n"
    script = run_captured([*CLI, "--show-completion", "bash"])
    assert script.returncode == 0 and "_charlm_tui_completion" in script.stdout


def test_a_stream_that_cannot_encode_a_character_never_crashes(tmp_path: Path) -> None:
    import subprocess

    corpus = tmp_path / "odd.txt"
    corpus.write_text("Où est le café? 🎭 × · naïve\n" * 200, encoding="utf-8")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}  # as in a C locale

    def ascii_run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            encoding="ascii",
            errors="strict",
            timeout=120,
        )  # fmt: skip (strict: what came out is ascii, so escapes replaced the rest)

    trained = ascii_run(
        "--no-ui", "train", "--preset", "tiny", "--data", str(corpus), "--out", str(out),
        "--max-iters", "20", "--sample-interval", "10", "--sample-chars", "40",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert [e.reason for e in read_records(out / "metrics.jsonl") if isinstance(e, DoneEvent)] == [
        "finished"
    ]
    for argv in (
        ("runs", str(tmp_path)),
        ("--no-ui", "compare", str(out), "--format", "table"),
        ("--no-ui", "compare", str(out), "--format", "markdown"),
        ("--no-ui", "inspect", str(out), "--text", "Où est le café? 🎭"),
        ("--no-ui", "sample", str(out), "--prompt", "Où", "--max-new-tokens", "30"),
    ):
        done = ascii_run(*argv)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (argv, done.stderr)
    assert "\\xd7" in ascii_run("runs", str(tmp_path)).stdout  # × as an escape


def rank_process(parent: int, rank: int) -> int | None:
    """The pid of torchrun's worker of `rank` (its child with RANK=<rank>), if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_torchrun_with_a_rank_killed_ends_in_one_line_and_a_done_record(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp"
    argv = train_argv(corpus_file, out, command=DDP_CLI, max_iters=1_000_000, eval_interval=50)
    proc = spawn_piped(argv, text=True)
    try:
        wait_until(
            lambda: (
                any(isinstance(e, StepEvent) for e in read_records(out / "metrics.jsonl"))
                if (out / "metrics.jsonl").exists()
                else False
            ),
            "the first step records",
        )
        victim = rank_process(proc.pid, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0
    done = [e for e in read_records(out / "metrics.jsonl") if isinstance(e, DoneEvent)]
    assert len(done) == 1 and done[0].reason == "failed", done
    assert "another process of the distributed run stopped" in done[0].message
    ours = [line for line in stderr.splitlines() if line.startswith("charlm-tui:")]
    assert len(ours) == 1 and "resume with --resume" in ours[0], stderr[-3000:]
    assert "[rank0]: Traceback" not in stderr  # rank 0 ended in its one line
    assert load_checkpoint(out / "last.pt")["iter"] == done[0].iter  # saved where it stopped


LIGHT = "import sys; from charlm_tui.tui.cli import run; rc = run(sys.argv[1:]); " + (
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'textual'}); "
    "print('HEAVY', heavy, file=sys.stderr); sys.exit(rc)"
)
COMMANDS = ["train", "sample", "eval", "inspect", "export", "runs", "compare", "watch", "steer",
            "ladder", "config", "report", "import"]  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        *([c, "--help"] for c in COMMANDS),
        ["runs"],
        ["steer", "{a}", "--pause"],
        ["--no-ui", "compare", "{a}", "{b}"],
        ["compare", "{a}", "{b}", "--format", "json"],
        ["runs", "--provenance", "--format", "json"],
        ["config", "{b}"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_light_commands_import_neither_torch_nor_textual(argv: list[str], tmp_path: Path) -> None:
    """What a shell user runs a dozen times a minute starts in a fraction of a second:
    torch (1.1 s to import) and textual are for training, scoring and screens only."""
    runs = tmp_path / "runs"
    a = fake_run(runs, "a", done=None)
    b = fake_run(runs, "b")
    argv = [x.format(a=a, b=b) for x in argv]
    env = {**os.environ, "CHARLM_RUNS_DIR": str(runs), "COLUMNS": "120"}
    result = subprocess.run(
        [sys.executable, "-c", LIGHT, *argv], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if argv == ["steer", str(a), "--pause"]:  # a finished run: refused, after reading it
        assert "there is nothing to steer" in result.stderr
    else:
        assert result.returncode == 0, result.stderr[-800:]
    assert "HEAVY []" in result.stderr
    if argv[0] in ("runs", "compare", "--no-ui"):
        assert "a" in result.stdout and "b" in result.stdout


def test_resume_given_a_run_says_how_to_name_it(capsys) -> None:
    assert run(["--no-ui", "train", "--resume", "checkpoints/myrun"]) == 2
    err = capsys.readouterr().err
    assert "--resume takes no value: charlm-tui train --resume --out checkpoints/myrun" in err
    assert len(err.strip().splitlines()) == 1
    assert run(["--no-ui", "train", "--resume", "myrun"]) == 2  # a name, as `runs` lists it
    assert "charlm-tui train --resume --name myrun" in capsys.readouterr().err
    assert run(["--no-ui", "train", "--out", "elsewhere", "--resume", "myrun"]) == 2
    err = capsys.readouterr().err
    assert "--resume takes no value" in err and "--out myrun" not in err
