"""Seeds and grids: one planned run become many — replicas of it with seeds seed, seed+1,
…, and the cells of a grid of option values — each a member folder of one group folder.

`--seeds N` makes a difference between two models a statement about the models, not
about one draw of initial weights and batches (core/report/groups.py tests it);
`--grid name=v1,v2` sweeps any declared option, each value checked by its declaration.
A member's name says what sets it apart: `lstm`, `lstm+s1338`, `gpt-cpu+lr=0.003+s1338`
(the folder's base seed is left out of the name, so adding seeds to a ladder keeps the
rungs it has).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from charlm_tui.core.config import NOT_LEARNED, SPECS
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import Spec, option, positive_int

MAX_MEMBERS = 1000  # a typo like --grid lr=... with a thousand values is not a sweep
# Options a grid cannot sweep: what the group shares (its corpus, its budget), the seed
# (--seeds), and those that change how a run runs or reports, not what it learns.
NOT_SWEPT = NOT_LEARNED | {"data", "seed", "time_budget", "max_iters", "vocab_size", "model"}


@dataclass(frozen=True)
class Replicas:
    """How many seeds of each planned run, and how many train at once."""

    seeds: int = option(
        1,
        "Train N replicas with seeds seed, seed+1, …: compare then shows their mean ± std, "
        "and a Welch t-test between groups.",
        "seeds",
        range=positive_int(1000),
        metavar="N",
    )
    jobs: int = option(
        1,
        "Train this many replicas at once, each in its own process with its share of "
        "the cores (needs --no-ui).",
        "seeds",
        range=positive_int(256),
        metavar="K",
    )

    def check(self) -> None:
        cores = os.cpu_count() or 1
        if self.jobs > cores:
            raise CharLMError(
                f"--jobs {self.jobs} is more than this machine's {cores} cores: at most --jobs "
                f"{cores}"
            )

    def seed_list(self, base: int) -> tuple[int, ...]:
        return tuple(range(base, base + self.seeds))

    def threads(self) -> int:
        """Each job's torch threads: the cores shared out (2 cores, 2 jobs: 1 each)."""
        return max(1, (os.cpu_count() or 1) // self.jobs)


@dataclass(frozen=True)
class Axis:
    """One swept option and its values, in the order given."""

    spec: Spec
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.spec.name


def parse_value(spec: Spec, text: str) -> Any:
    """A value of `spec` from the command line's text, checked by its declaration."""
    base, word = spec.base, text.strip()
    try:
        if spec.choices is not None or base is str:
            value: Any = word
        elif base is bool:
            value = {"true": True, "false": False}[word.lower()]
        elif base is int:
            value = int(word)
        elif base is float:
            value = float(word)
        else:
            raise ValueError
    except (ValueError, KeyError):
        raise CharLMError(f"--grid {spec.name}: {spec.kind()}, not {text!r}") from None
    if (problem := spec.problem(value)) is not None:
        raise CharLMError(f"--grid {spec.name}={word}: {spec.flag} {problem}")
    return value


def parse_axis(text: str) -> Axis:
    """`lr=1e-3,3e-3` (or `--lr=…`, `n-embd=…`): a declared option and its values."""
    name, sep, values = text.partition("=")
    key = name.strip().removeprefix("--").replace("-", "_")
    if not sep or not key:
        raise CharLMError(f"--grid takes NAME=V1,V2,…, not {text!r} (e.g. --grid lr=1e-3,3e-3)")
    spec = SPECS.get(key)
    if spec is None or not spec.cli:
        from difflib import get_close_matches

        near = get_close_matches(key, [s for s in SPECS if s not in NOT_SWEPT], n=1)
        hint = f": did you mean {near[0]}?" if near else ""
        raise CharLMError(f"--grid {name.strip()}: no such option{hint}")
    if key in NOT_SWEPT or spec.repeated:
        why = (
            "use --seeds" if key == "seed"
            else "a rung is a model: choose them with --rungs" if key == "model"
            else "it changes how a run runs or reports, not what it learns" if key in NOT_LEARNED
            else "every member shares it"
        )  # fmt: skip
        raise CharLMError(f"--grid cannot sweep {spec.flag}: {why}")
    words = values.split(",")
    if not values.strip():
        raise CharLMError(f"--grid {key}= names no value")
    if any(not w.strip() for w in words):
        raise CharLMError(f"--grid {key}: an empty value in {values!r}")
    parsed = tuple(parse_value(spec, w) for w in words)
    if len(set(parsed)) != len(parsed):
        raise CharLMError(f"--grid {key} names a value twice: {values!r}")
    return Axis(spec, parsed)


def first_repeated(items: Sequence[Any]) -> Any:
    """The first item that comes again, or None."""
    seen: set[Any] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def parse_grid(texts: Sequence[str]) -> tuple[Axis, ...]:
    axes = tuple(parse_axis(t) for t in texts)
    if (twice := first_repeated([a.name for a in axes])) is not None:
        raise CharLMError(f"--grid names {twice} twice: give its values in one --grid")
    return axes


def cells(axes: Sequence[Axis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the last axis changing fastest."""
    return [dict(zip((a.name for a in axes), combo, strict=True))
            for combo in itertools.product(*(a.values for a in axes))]  # fmt: skip


def shown(value: Any) -> str:
    """A value as a member's name holds it: floats by repr, so two values never share a
    name (0.1 and 0.10000001 would under `g`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def member_name(stem: str, cell: dict[str, Any], seed: int, base_seed: int) -> str:
    """`stem+lr=0.003+n_embd=64+s1338`: the stem, the cell's values, and the seed when it
    is not the group's own."""
    parts = [stem] if stem else []
    parts += [f"{k}={shown(v)}" for k, v in cell.items()]
    if seed != base_seed or not parts:
        parts.append(f"s{seed}")
    return "+".join(parts)


def check_size(n: int) -> None:
    if n > MAX_MEMBERS:
        raise CharLMError(
            f"that is {n:,} runs: at most {MAX_MEMBERS:,} in one folder (fewer --grid values "
            "or --seeds)"
        )
