"""The vocabulary: sorted characters, encoding round trips, unknown characters listed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.text.vocab import Vocab


def test_sorted_set_of_characters() -> None:
    v = Vocab.from_text("hello world\n")
    assert v.chars == "\n dehlorw"
    assert len(v) == 9
    assert v.dtype == np.uint8


def test_encode_decode_and_array_agree() -> None:
    text = "to be, or not to be\n"
    v = Vocab.from_text(text)
    ids = v.encode(text)
    assert v.decode(ids) == text
    assert v.encode_array(text).tolist() == ids


def test_unknown_characters_are_listed() -> None:
    v = Vocab.from_text("abc")
    with pytest.raises(CharLMError, match=r"2 character\(s\) outside .* 'x', 'é'"):
        v.encode("axbé")
    with pytest.raises(CharLMError, match="outside"):
        v.encode_array("abz")


def test_wide_vocabularies_use_wider_ids() -> None:
    text = "".join(chr(0x4E00 + i) for i in range(300))
    v = Vocab.from_text(text)
    assert v.dtype == np.uint16
    assert v.decode(v.encode_array(text).tolist()) == text


def test_rejects_unsorted_or_empty() -> None:
    with pytest.raises(CharLMError):
        Vocab("")
    with pytest.raises(CharLMError):
        Vocab("ba")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=200))
def test_round_trip_any_unicode(text: str) -> None:
    v = Vocab.from_text(text)
    assert v.decode(v.encode(text)) == text
    assert v.decode(v.encode_array(text).tolist()) == text


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=50), st.text(max_size=50))
def test_prompt_check_finds_exactly_the_unknown(corpus: str, prompt: str) -> None:
    v = Vocab.from_text(corpus)
    missing = set(prompt) - set(corpus)
    assert set(v.unknown(prompt)) == missing
    if missing:
        with pytest.raises(CharLMError):
            v.encode(prompt)
    else:
        assert v.decode(v.encode(prompt)) == prompt
