"""Comparing runs without a screen: rows, ladder folders, exports, `compare`'s refusals.

Rows from records (sort, filter, baseline), ladder folders, the exports parsed back and
agreeing with `eval`, and `compare`'s one-line refusals."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import pytest

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.listing import load_runs, resolve_runs
from charlm_tui.core.runs.rundir import FULL_EVAL, LADDER, METRICS
from charlm_tui.core.runs.scores import full_eval, read_full_eval
from charlm_tui.tui.cli import run
from charlm_tui.tui.exports import to_csv, to_json, to_markdown
from charlm_tui.tui.tables import matches, row_of, sort_rows, with_baseline
from tests.conftest import make_text
from tests.train_helpers import new_training
from tests.tui_helpers import fake_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real runs (a second each) with their checkpoints: what `eval` can score."""
    root = tmp_path_factory.mktemp("trained")
    corpus = root / "play.txt"
    corpus.write_text(make_text(20_000), encoding="utf-8")
    over = dict(max_iters=30, eval_interval=10, sample_interval=0, log_interval=2)
    with pytest.MonkeyPatch.context() as mp:  # the per-test isolation is not up yet
        mp.setenv("CHARLM_DATA_DIR", str(root / "data"))
        new_training(corpus, root / "runs" / "gpt-a", **over).run()
        new_training(corpus, root / "runs" / "bigram-b", preset="bigram", **over).run()
    return root / "runs"


# -- rows ---------------------------------------------------------------------------------


def test_rows_from_records_sort_filter_and_baseline(tmp_path: Path) -> None:
    paths = [fake_run(tmp_path, "long", iters=400), fake_run(tmp_path, "short", iters=200)]
    rows = [row_of(r) for r in load_runs(paths)]
    long, short = rows
    assert long.val_source == "estimate" and long.best_iter == 400
    assert long.val_loss == pytest.approx(1.65 + 2.6 * math.exp(-400 / 120))
    assert long.chars == 400 * 16 * 32 and long.iters == 400 and long.status == "finished"
    assert long.shape == "1×2×32 · 32" and long.params == short.params
    assert long.gap == pytest.approx(0.03)  # val - train at the best eval
    assert [r.name for r in sort_rows(rows, "val_loss")] == ["long", "short"]
    assert [r.name for r in sort_rows(rows, "val_loss", reverse=True)] == ["short", "long"]
    assert [r.name for r in rows if matches(r, "SHO fin")] == ["short"]
    based = with_baseline(rows, "short")
    assert based[1].deltas["val_loss"] == 0.0
    assert based[0].deltas["val_loss"] == pytest.approx(long.val_loss - short.val_loss)
    with pytest.raises(CharLMError, match="--sort"):
        sort_rows(rows, "nope")


def test_a_run_without_values_sorts_last_and_shows_dashes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / METRICS).write_text("")
    rows = [row_of(r) for r in load_runs([fake_run(tmp_path, "a", iters=100), empty])]
    assert [r.name for r in sort_rows(rows, "val_loss", reverse=True)] == ["a", "empty"]
    assert to_markdown(rows).splitlines()[3].count("–") >= 5


def test_hostile_names_never_reach_a_terminal_raw(tmp_path: Path) -> None:
    path = fake_run(tmp_path, "evil\x1b[2Jname|x", iters=100)
    rows = [row_of(r) for r in load_runs([path])]
    for text in (to_markdown(rows), to_csv(rows), to_json(rows)):
        assert "\x1b" not in text
    assert r"evil\\x1b[2Jname\|x" in to_markdown(rows)  # shows as evil\x1b[2Jname|x


def test_ladder_folders_expand_to_their_rungs_in_order(tmp_path: Path) -> None:
    ladder = tmp_path / "ladder-x"
    for name in ("zeta", "alpha"):
        fake_run(ladder, name, iters=100)
    (ladder / LADDER).write_text(json.dumps({"rungs": ["zeta", "alpha"]}))
    assert [p.name for p in resolve_runs([ladder])] == ["zeta", "alpha"]
    assert [r.label for r in load_runs(resolve_runs([ladder]))] == [
        "ladder-x/zeta",
        "ladder-x/alpha",
    ]
    with pytest.raises(CharLMError, match="no such run"):
        resolve_runs([tmp_path / "missing"])


# -- exports, parsed back, and the same numbers as `eval` ---------------------------------


def test_exports_parse_back_and_agree_with_eval(trained: Path, capsys) -> None:
    runs = [str(trained / "gpt-a"), str(trained / "bigram-b")]
    assert run(["--no-ui", "compare", *runs, "--format", "json", "--full-eval"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["gpt-a", "bigram-b"]
    for row in rows:
        assert row["val_source"] == "full"
        assert run(["eval", row["path"], "--json"]) == 0
        ev = json.loads(capsys.readouterr().out)
        assert (row["val_loss"], row["val_top1"], row["val_top5"]) == pytest.approx(
            (ev["loss"], ev["top1"], ev["top5"]), abs=1e-9
        )
        assert row["best_iter"] == ev["iter"] and row["iters"] == 30

    assert run(["--no-ui", "compare", *runs, "--format", "csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in parsed] == ["gpt-a", "bigram-b"]
    for got, want in zip(parsed, rows, strict=True):
        assert float(got["val_loss"]) == want["val_loss"]  # floats written exactly
        assert int(got["params"]) == want["params"] and got["val_source"] == "full"

    assert run(["--no-ui", "compare", *runs, "--format", "markdown", "--sort", "val_loss"]) == 0
    text = capsys.readouterr().out
    table = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    body = [
        dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True))
        for ln in table[2:]
    ]
    by_name = {r["name"]: r for r in rows}
    assert [b["run"] for b in body] == sorted(by_name, key=lambda n: by_name[n]["val_loss"])
    for b in body:
        assert float(b["val loss"]) == pytest.approx(by_name[b["run"]]["val_loss"], abs=5e-5)
        assert b["top@1"] == f"{by_name[b['run']]['val_top1']:.1%}"
    assert "every position of the val split" in text


def test_the_full_eval_cache_follows_its_checkpoint(trained: Path) -> None:
    run_dir = trained / "gpt-a"
    first = full_eval(run_dir)
    assert read_full_eval(run_dir) == first and (run_dir / FULL_EVAL).is_file()
    best = run_dir / "best.pt"
    st = best.stat()
    os.utime(best, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new best.pt
    assert read_full_eval(run_dir) is None
    (run_dir / FULL_EVAL).write_text('{"evals": [{"checkpoint": 3}], "x": []}')
    assert read_full_eval(run_dir) is None  # somebody else's file: ignored, not trusted
    assert full_eval(run_dir).loss == pytest.approx(first.loss)


def test_full_eval_of_a_read_only_run_is_shown_uncached(
    trained: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import errno
    import shutil

    from charlm_tui.core.runs import scores

    run_dir = tmp_path / "gpt-a"
    shutil.copytree(trained / "gpt-a", run_dir)
    (run_dir / FULL_EVAL).unlink(missing_ok=True)

    def read_only(path: Path, text: str, **kw: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(scores, "atomic_write_text", read_only)
    assert run(["--no-ui", "compare", str(run_dir), "--full-eval", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    (row,) = json.loads(out)
    assert row["val_source"] == "full" and "not cached" in err and "Read-only" in err
    assert not (run_dir / FULL_EVAL).exists()


def test_compare_refuses_bad_input_in_one_line(trained: Path, tmp_path: Path, capsys) -> None:
    a = str(trained / "gpt-a")
    cases = [
        (["--no-ui", "compare", str(tmp_path / "nope")], "no such run"),
        (["--no-ui", "compare", a, "--sort", "colour"], "--sort must be one of"),
        (["--no-ui", "compare", a, "--baseline", "zzz"], "--baseline 'zzz' is not one of"),
        (["--no-ui", "compare", str(tmp_path)], "holds no runs"),
        (["export", a], "export what?"),
    ]
    for argv, message in cases:
        assert run(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


# -- corpora ------------------------------------------------------------------------------


def with_corpus(path: Path, spec: str, sha: str) -> Path:
    """A run whose config.json says which corpus text it trained on."""
    config = json.loads((path / "config.json").read_text())
    config["corpus"] = {"spec": spec, "sha256": sha}
    config["train"]["data"] = spec
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_compare_names_each_runs_corpus_and_warns_when_they_differ(tmp_path: Path, capsys) -> None:
    a = with_corpus(fake_run(tmp_path, "a", iters=100), "play.txt", "a" * 64)
    b = with_corpus(fake_run(tmp_path, "b", iters=100), "play.txt", "b" * 64)
    same = with_corpus(fake_run(tmp_path, "c", iters=100), "play.txt", "a" * 64)
    assert run(["--no-ui", "compare", str(a), str(same), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    header = [c.strip() for c in text.splitlines()[0].strip("|").split("|")]
    assert "corpus" in header
    assert "| play.txt |" in text and "different corpora" not in text

    assert run(["--no-ui", "compare", str(a), str(b), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "| play.txt (aaaaaaaa) |" in text and "| play.txt (bbbbbbbb) |" in text
    assert "different corpora" in text.splitlines()[-1]  # under the table and its note
    for fmt in ("csv", "json"):  # data on stdout, the warning beside it
        assert run(["--no-ui", "compare", str(a), str(b), "--format", fmt]) == 0
        out, err = capsys.readouterr()
        assert "different corpora" in err and "different corpora" not in out
    assert [r["corpus_sha256"] for r in json.loads(out)] == ["a" * 64, "b" * 64]
    assert run(["--no-ui", "compare", str(a), str(b)]) == 0
    assert "play.txt (bbbbbbbb): b" in capsys.readouterr().out


def test_a_name_is_never_html_in_the_markdown(tmp_path: Path) -> None:
    rows = [row_of(r) for r in load_runs([fake_run(tmp_path, "a<script>b", iters=100)])]
    assert "| a\\<script\\>b |" in to_markdown(rows) and "<script>" not in to_markdown(rows)
