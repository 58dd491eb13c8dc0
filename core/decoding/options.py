"""What a user asks of a trained model, declared once and without torch: a generation
(`sample`'s options, the generate pane's fields, the decoder child's requests) and a
text to inspect (`inspect`'s options). The code that runs them is beside this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from charlm_tui.core.config import MAX_SEED
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import Range, option, specs

if TYPE_CHECKING:  # numpy: not for `sample --help`
    from charlm_tui.core.text.vocab import Vocab

Precision = Literal["auto", "fp32", "int8"]
# Dividing logits by a temperature this small overflows float32 (1e-40: inf, then NaN
# probabilities); the distribution it approaches is the argmax, so that is what we use.
GREEDY_BELOW = 1e-6
MAX_NEW = 100_000  # characters one generation may ask for
DEFAULT_LENGTH = 2000  # characters of a split inspected when --length is not given
MAX_CHARS = 100_000  # a screen shows a few thousand; JSON of 100k records is ~15 MB


@dataclass(frozen=True)
class SamplingParams:
    """How one character is drawn from the model's logits."""

    temperature: float = 0.8  # 0 (or anything under GREEDY_BELOW) means greedy
    top_k: int = 0  # 0 disables
    top_p: float = 1.0  # 1 disables

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


@dataclass(frozen=True)
class GenerateOptions:
    """What one generation asks for, declared once: `sample`'s options, the generate
    pane's fields (their `form` labels) and the decoder child's requests."""

    prompt: str = option("", "Text to continue (default: a newline).", "sampling")
    temperature: float = option(
        0.8,
        "0 is greedy (so is anything under 1e-6); higher is wilder.",
        "sampling",
        range=Range(0.0, 10.0),
        form="temp",
    )
    top_k: int = option(
        0, "Sample from the k likeliest (0: all).", "sampling", range=Range(0), form="top-k"
    )
    top_p: float = option(
        1.0,
        "Nucleus: the smallest set of characters with this much probability (1: all).",
        "sampling",
        range=Range(0.0, 1.0, lo_open=True),
        form="top-p",
    )
    max_new_tokens: int = option(
        500, "Characters to generate.", "sampling", range=Range(0, MAX_NEW), form="max chars"
    )
    seed: int = option(
        1337, "Same seed and checkpoint, same text.", "sampling", range=Range(0, MAX_SEED),
        form="seed",
    )  # fmt: skip
    precision: Precision = option(
        "auto",
        "Weights for decoding: int8 is ~1.5x faster on CPU and moves val loss by ~1e-4 "
        "nats; fp32 is exact. auto: int8 for gpt on CPU.",
        "decoding",
    )
    compile: bool = option(
        False,
        "Decode a gpt with its one-character step compiled ahead of time (AOTInductor; "
        "needs a C++ compiler): ~1.5x faster on CPU. The first use of a model shape "
        "compiles for ~15-25 s; later ones load it from the cache folder's decoders/.",
        "decoding",
    )

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_k, self.top_p)

    def validate(self) -> None:
        """Each option by its declaration (CharLMError naming the flag)."""
        for name, spec in specs(GenerateOptions).items():
            spec.validate(getattr(self, name))


Split = Literal["val", "train"]


@dataclass(frozen=True)
class Source:
    """A text to inspect, declared as `inspect`'s options: given (--text), read from a
    file (--file), or a slice of a corpus split (--split, --start, --length; the corpus
    defaults to the training one). A slice option left out is None: its default."""

    text: str | None = option(None, "The text to score.", "text")
    file: Path | None = option(None, "A UTF-8 file to score.", "text", metavar="FILE")
    split: Split | None = option(
        None, "Score a slice of this split of the corpus (default: val).", "slice"
    )
    start: int | None = option(
        None, "First character of the slice (default: 0).", "slice", range=Range(0)
    )
    length: int | None = option(
        None,
        f"Characters in the slice (default: {DEFAULT_LENGTH:,}).",
        "slice",
        range=Range(2, MAX_CHARS),
    )
    data: str | None = option(
        None, "Corpus of the split (default: the one it was trained on).", "slice"
    )
    name: str = option("", "What to call a given text.", "text", cli=False)

    @property
    def slice(self) -> tuple[Split, int, int]:
        """(split, start, length) with the defaults filled in."""
        start = self.start if self.start is not None else 0
        return self.split or "val", start, self.length or DEFAULT_LENGTH

    def check(self) -> None:
        if self.text is not None and self.file is not None:
            raise CharLMError("give --text or --file, not both")
        given = self.text is not None or self.file is not None
        if given and any(v is not None for v in (self.split, self.start, self.length, self.data)):
            raise CharLMError(
                "--split, --start, --length and --data choose a slice of a corpus: "
                "leave them out with --text or --file"
            )

    def validate(self) -> None:
        """Each option by its declaration, then `check`."""
        for name, spec in specs(Source).items():
            spec.validate(getattr(self, name))
        self.check()

    def describe(self) -> str:
        if self.name:
            return self.name
        if self.text is not None:
            return "the given text"
        if self.file is not None:
            return str(self.file)
        split, start, length = self.slice
        return f"{split}[{start:,}:{start + length:,}]"

    def read(self, vocab: Vocab, train_config: Any, unseen_ok: bool = False) -> str:
        """The text, checked: at most MAX_CHARS, and known characters only unless
        unseen_ok (a --text or --file whose unseen characters inspection leaves out)."""
        self.validate()
        if self.text is not None or self.file is not None:
            from charlm_tui.core.text.corpus import read_text_file

            flag = "--text" if self.text is not None else "--file"
            text = (
                self.text
                if self.text is not None
                else read_text_file(Path(self.file), max_bytes=4 * MAX_CHARS, flag="--file")
            )  # UTF-8 takes at most 4 bytes a character: the limit is checked before reading
            if len(text) > MAX_CHARS:
                raise CharLMError(
                    f"{flag} holds {len(text):,} characters: inspect at most {MAX_CHARS:,} "
                    "at a time (cut it, or use --split with --start and --length)"
                )
            if not unseen_ok:
                vocab.check(text, flag)
            return text
        from charlm_tui.core.text.corpus import load_corpus
        from charlm_tui.core.text.dataset import make_dataset

        corpus = load_corpus(
            self.data or train_config.data, train_config.encoding_errors, train_config.keep_crlf
        )
        vocab.check(corpus.chars, f"the corpus {corpus.spec!r}")
        split, start, length = self.slice
        part = make_dataset(corpus, train_config.val_fraction, vocab=vocab).split(split)
        if start > len(part) - 2:
            raise CharLMError(
                f"--start {start:,} is past the end of the {split} split of "
                f"{corpus.spec!r} ({len(part):,} characters)"
            )
        return vocab.decode(part[start : start + length].tolist())
