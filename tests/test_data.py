"""Corpora and batches: files and folders, bad input refused, splits, caching, built-ins."""

from pathlib import Path

import numpy as np
import pytest

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.paths import data_dir
from charlm_tui.core.text.corpora import play_to_text
from charlm_tui.core.text.corpus import check_split_length, load_corpus
from charlm_tui.core.text.dataset import BatchSampler, make_dataset


def test_file_and_default_split(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("abcdefghij" * 10, encoding="utf-8")
    ds = make_dataset(load_corpus(str(p)), val_fraction=0.1)
    assert len(ds.train) == 90 and len(ds.val) == 10
    assert ds.vocab.decode(ds.train.tolist()) + ds.vocab.decode(ds.val.tolist()) == p.read_text()


def test_directory_reads_txt_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("second\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first", encoding="utf-8")
    (tmp_path / "c.md").write_text("ignored", encoding="utf-8")
    corpus = load_corpus(str(tmp_path))
    assert corpus.text == "first\nsecond\n"
    assert [Path(s).name for s in corpus.sources] == ["a.txt", "b.txt"]


def test_non_utf8_names_file_and_offset(tmp_path: Path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(b"hello \xff world")
    with pytest.raises(CharLMError, match=r"bad.txt is not valid UTF-8: byte 0xff at offset 6"):
        load_corpus(str(p))
    assert load_corpus(str(p), encoding_errors="replace").text == "hello \ufffd world"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.txt", "no such file, directory or built-in corpus"),
        (lambda d: (d / "sub").mkdir() or d / "sub", "no \\*.txt files"),
    ],
)
def test_bad_corpora(tmp_path: Path, setup, message: str) -> None:
    path = setup(tmp_path)
    with pytest.raises(CharLMError, match=message):
        load_corpus(str(path))


def test_empty_file_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CharLMError, match="is empty"):
        load_corpus(str(tmp_path / "empty.txt"))


def test_split_shorter_than_block(tmp_path: Path) -> None:
    p = tmp_path / "short.txt"
    p.write_text("x" * 100, encoding="utf-8")
    ds = make_dataset(load_corpus(str(p)), 0.1)
    with pytest.raises(CharLMError, match=r"val split has 10 characters .* needs at least 33"):
        check_split_length(len(ds.val), "val", 32)


def test_large_corpus_is_cached_and_memory_mapped(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_text("abcd\n" * 20_000, encoding="utf-8")
    first = make_dataset(load_corpus(str(p)), 0.1)
    cached = list((data_dir() / "cache").glob("*.npy"))
    assert len(cached) >= 1
    second = make_dataset(load_corpus(str(p)), 0.1)
    assert isinstance(second.train.base, np.memmap) or isinstance(second.train, np.memmap)
    assert np.array_equal(first.train, second.train)


def test_batches_are_seeded_and_shifted_by_one(tmp_path: Path) -> None:
    data = np.arange(200, dtype=np.uint8)
    a = BatchSampler(data, block_size=8, batch_size=4, seed=3)
    b = BatchSampler(data, block_size=8, batch_size=4, seed=3)
    xa, ya = a.next(5)
    xb, yb = b.next(5)
    assert (xa == xb).all() and (ya == yb).all()
    assert (ya[:, :-1] == xa[:, 1:]).all()
    assert xa.shape == (4, 8)
    # A batch depends on (seed, rank, iteration) only: not on the batches drawn before.
    fresh = BatchSampler(data, block_size=8, batch_size=4, seed=3)
    assert (fresh.next(5)[0] == xa).all()
    assert not (a.next(6)[0] == xa).all()
    other_rank = BatchSampler(data, block_size=8, batch_size=4, seed=3, rank=1)
    assert not (other_rank.next(5)[0] == xa).all()


def test_play_markdown_becomes_classic_form() -> None:
    md = (
        "# Macbeth\n\n## ACT I\n\n_Thunder. Enter three Witches_\n\n"
        "**First Witch**  \nWhen shall we three meet again  \nIn thunder?\n\n"
        "**Second Witch**  \n__\\[Aside]_  \nWhen the hurlyburly\\--done.\n\n"
        "_Exeunt_\n\nAnd more.\n"
    )
    assert play_to_text(md) == (
        "First Witch:\nWhen shall we three meet again\nIn thunder?\n\n"
        "Second Witch:\nWhen the hurlyburly--done.\n\nSecond Witch:\nAnd more.\n\n"
    )


def test_builtin_shakespeare_from_installed_package() -> None:
    corpus = load_corpus("shakespeare")
    assert len(corpus.text) > 4_000_000
    assert "ROMEO:\n" in corpus.text and "HAMLET:\n" in corpus.text
    assert not set("*_#\\") & set(corpus.text)  # no markdown left over
    assert (data_dir() / "shakespeare-v1.txt").is_file()  # cached for next time


def test_builtin_python_corpus() -> None:
    corpus = load_corpus("python")
    assert "def " in corpus.text and len(corpus.sources) > 50
