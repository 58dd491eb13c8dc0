"""Corpora and batches: files and folders, bad input refused, splits, caching, built-ins."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import charlm_tui.core.text.corpus as corpus_module
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.paths import data_dir
from charlm_tui.core.text.corpora import play_to_text
from charlm_tui.core.text.corpus import (
    check_split_length,
    chunks,
    first_invalid_utf8,
    load_corpus,
    scan_utf8,
)
from charlm_tui.core.text.dataset import BatchSampler, make_dataset
from charlm_tui.core.text.vocab import Vocab


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


# -- big corpora: read, scanned and encoded in pieces, never as one str --------------------

TEXTS = st.text(
    alphabet=st.one_of(
        st.sampled_from("ab\n\r é"),
        st.characters(max_codepoint=0x10FFFF, exclude_categories=["Cs"]),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, size=st.integers(min_value=1, max_value=9))
def test_pieces_scan_and_encode_as_the_whole_text_would(text: str, size: int) -> None:
    """Pieces of a few bytes cut every multi-byte character's neighbourhood: the
    characters, their count and the ids are still those of the text taken whole."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus_module, "CHUNK", size)
        pieces_agree(text)


def pieces_agree(text: str) -> None:
    data = text.encode("utf-8")
    assert b"".join(piece for _, piece in chunks(data)) == data
    chars, n = scan_utf8(data)
    assert (chars, n) == ("".join(sorted(set(text))), len(text))
    if text:
        vocab = Vocab(chars)
        ids = np.concatenate(list(vocab.encode_utf8(data)))
        assert ids.tolist() == vocab.encode(text)
        wide = Vocab("".join(sorted(set(text) | {chr(0x4E00 + k) for k in range(300)})))
        assert np.concatenate(list(wide.encode_utf8(data))).tolist() == wide.encode(text)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.one_of(st.characters(), st.sampled_from("\ud800\udbff\udc00\udfff")),
        max_size=40,
    )
)
def test_the_scan_takes_every_character_and_lone_surrogates(text: str) -> None:
    """Every length of UTF-8 sequence, and lone surrogates as surrogatepass writes them
    (a corpus made from a str in code)."""
    data = text.encode("utf-8", errors="surrogatepass")
    assert scan_utf8(data) == ("".join(sorted(set(text))), len(text))
    if text:
        vocab = Vocab("".join(sorted(set(text))))
        assert np.concatenate(list(vocab.encode_utf8(data))).tolist() == vocab.encode(text)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=40), size=st.integers(min_value=1, max_value=9))
def test_the_first_invalid_byte_is_found_across_pieces(data: bytes, size: int) -> None:
    try:
        data.decode("utf-8")
        expected = None
    except UnicodeDecodeError as e:
        expected = e.start
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus_module, "CHUNK", size)
        assert first_invalid_utf8(data) == expected


def test_a_character_outside_the_vocabulary_is_named(tmp_path: Path) -> None:
    vocab = Vocab("abc")
    with pytest.raises(CharLMError, match=r"the corpus has 1 character\(s\).*'z'"):
        list(vocab.encode_utf8(b"abcz"))
    with pytest.raises(CharLMError, match=r"the corpus has 1 character\(s\).*'é'"):
        list(vocab.encode_utf8("abé".encode()))


def big_file(path: Path, lines: int = 80_000) -> Path:
    path.write_text("".join(f"line {i} ça va\r\n" for i in range(lines)), encoding="utf-8")
    return path


def test_a_big_corpus_read_again_comes_from_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second start does not read an unchanged 1 MB+ corpus: the index describes it and
    the cached encoding stands in for it; a changed file is read again."""
    path = big_file(tmp_path / "big.txt")
    first = load_corpus(str(path))
    ds1 = make_dataset(first, 0.1)
    assert first.crlf == 80_000 and "\r" not in first.chars
    reads: list[Path] = []
    real = corpus_module.read_utf8_file
    monkeypatch.setattr(
        corpus_module, "read_utf8_file", lambda p, e="strict": reads.append(p) or real(p, e)
    )
    second = load_corpus(str(path))
    ds2 = make_dataset(second, 0.1)
    assert reads == [] and second.data is None
    assert (second.chars, second.n_chars, second.sha256, second.crlf) == (
        first.chars, first.n_chars, first.sha256, first.crlf,
    )  # fmt: skip
    assert np.array_equal(ds1.train, ds2.train) and np.array_equal(ds1.val, ds2.val)
    with path.open("a", encoding="utf-8") as f:
        f.write("one more line\n")
    third = load_corpus(str(path))
    assert reads == [path] and third.n_chars == first.n_chars + 14


def test_a_poisoned_index_is_not_believed(tmp_path: Path) -> None:
    path = big_file(tmp_path / "big.txt")
    first = load_corpus(str(path))
    index = data_dir() / "cache" / corpus_module.INDEX
    entries = json.loads(index.read_text())
    for entry in entries.values():
        entry["chars"] = "ba"  # not sorted
    index.write_text(json.dumps(entries))
    again = load_corpus(str(path))
    assert again.data is not None and again.chars == first.chars
    index.write_text("[1, 2")  # not JSON at all
    assert load_corpus(str(path)).sha256 == first.sha256


def test_an_encoding_cached_from_the_index_is_checked_and_rebuilt(tmp_path: Path) -> None:
    """An id out of the vocabulary in a cached encoding is rebuilt, even when the corpus
    came from the index (its text not read): the text is read then, not trusted."""
    path = big_file(tmp_path / "big.txt")
    make_dataset(load_corpus(str(path)), 0.1)
    for cached in (data_dir() / "cache").glob("*.npy"):
        arr = np.load(cached, mmap_mode="r+")
        arr[5] = 250
        arr.flush()
        del arr
    again = make_dataset(load_corpus(str(path)), 0.1)
    assert int(again.train.max()) < len(again.vocab)
    assert again.vocab.decode(again.train[:12].tolist()) == "line 0 ça va"


def test_a_zero_filled_encoding_is_rebuilt_for_any_text_from_the_index(tmp_path: Path) -> None:
    """Same shape, type and ids in range, wrong contents: the first piece of the text,
    read from its file, gives it away, for non-ASCII text too."""
    path = tmp_path / "big.txt"
    path.write_text("".join(f"строка {i} ça va\r\n" for i in range(60_000)), encoding="utf-8")
    good = make_dataset(load_corpus(str(path)), 0.1)
    expected = np.concatenate([good.train, good.val])
    for cached in (data_dir() / "cache").glob("*.npy"):
        np.save(cached, np.zeros_like(np.load(cached)))
    again = load_corpus(str(path))
    assert again.data is None  # from the index: the text itself was not read to start
    rebuilt = make_dataset(again, 0.1)
    assert np.array_equal(np.concatenate([rebuilt.train, rebuilt.val]), expected)


def test_a_file_rewritten_with_its_size_and_mtime_put_back_is_read_again(tmp_path: Path) -> None:
    """`touch -r`, `rsync -t --inplace`: the change time still moves."""
    path = big_file(tmp_path / "big.txt")
    first = load_corpus(str(path))
    st = path.stat()
    path.write_bytes(path.read_bytes().replace(b"line 7 ", b"LINE 7 "))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = load_corpus(str(path))
    assert again.data is not None and "L" in again.chars and again.sha256 != first.sha256


def test_an_index_entry_that_lies_is_caught_and_forgotten(tmp_path: Path) -> None:
    """An entry with the right hash but a wrong length: one clear error (not a truncated
    corpus, not a traceback), and the next start reads the file."""
    path = big_file(tmp_path / "big.txt")
    real = load_corpus(str(path))
    index = data_dir() / "cache" / corpus_module.INDEX
    entries = json.loads(index.read_text())
    for entry in entries.values():
        entry["n_chars"] -= 500
    index.write_text(json.dumps(entries))
    with pytest.raises(CharLMError, match="is not what was read before: run the command again"):
        make_dataset(load_corpus(str(path)), 0.1, cache=False)
    assert load_corpus(str(path)).n_chars == real.n_chars
