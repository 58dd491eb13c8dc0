"""Options declared once: a dataclass field that carries everything about one option.

    @dataclass
    class GenerateOptions:
        temperature: float = option(0.8, "0 is greedy; higher is wilder.", "sampling",
                                    range=Range(0.0, 10.0), form="temp")

A field's declaration (`Spec`) holds its default, help, group, allowed values (a
`Literal` type), range or check, and where it appears (a form label, a metavar, the
CLI or not). From it come: the command's options and their help (tui/cli/common.py),
validation with errors that name the flag (`Spec.validate`, `build`), form fields and
their error messages (`Spec.problem`), and values read back from files (`Spec.coerce`).
The run configuration (core/config.py) is declared this way; so is every command's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, Literal, get_args, get_origin, get_type_hints

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.values import is_int, is_number


@dataclass(frozen=True)
class Range:
    """Bounds of a number; `lo_open`/`hi_open` exclude the bound itself."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)

    def describe(self) -> str:
        def num(x: float) -> str:
            return f"{x:,}" if isinstance(x, int) else f"{x:g}"

        if self.hi is None:
            return ("greater than " if self.lo_open else "at least ") + num(self.lo or 0)
        left = ("(" if self.lo_open else "[") + num(self.lo if self.lo is not None else -math.inf)
        return f"in {left}, {num(self.hi)}{')' if self.hi_open else ']'}"


NON_NEGATIVE = Range(0)
FRACTION = Range(0.0, 1.0, hi_open=True)  # [0, 1)


def positive_int(hi: int) -> Range:
    return Range(1, hi)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Spec:
    """What the rest of the program needs to know about one declared option."""

    name: str
    default: Any
    type: Any  # the resolved annotation: int, float | None, a Literal alias...
    help: str
    group: str  # the help panel it is listed in
    range: Range | None = None
    check: Callable[[Any], str | None] | None = None  # returns what is wrong, or None
    resumable: bool = False  # may change when a run is resumed
    steerable: bool = False  # may change while the run trains (control.json, `steer`)
    form: str | None = None  # label in a form of the app; None: not in a form
    cli: bool = True  # False: derived, not an option (vocab_size)
    metavar: str | None = None  # what --help writes for its value
    section: str = ""  # the dataclass that declares it: "model" or "train" for a run's
    cli_name: str | None = None  # the flag's word when the field's name cannot be it (from)

    @property
    def flag(self) -> str:
        return flag(self.cli_name or self.name)

    @property
    def optional(self) -> bool:
        return type(None) in get_args(self.type)

    @property
    def repeated(self) -> bool:
        """A `tuple[str, ...]` option: given any number of times (`--tag a --tag b`)."""
        return get_origin(self.type) is tuple

    @property
    def base(self) -> Any:
        """int, float, str, bool, or a Literal type: the type without `| None` (of one
        item, for a repeated option)."""
        args = [a for a in get_args(self.type) if a is not type(None)]
        return args[0] if get_origin(self.type) is not Literal and args else self.type

    @property
    def choices(self) -> tuple[str, ...] | None:
        return get_args(self.base) if get_origin(self.base) is Literal else None

    def coerce(self, value: Any, where: str) -> Any:
        """value, checked for type only (from JSON, a checkpoint, a form); else CharLMError."""
        if value is None and self.optional:
            return None
        if self.repeated:
            if not isinstance(value, list | tuple):
                raise CharLMError(f"{where}: {self.name} must be a list of {self.kind()}")
            return tuple(self._coerce_one(v, where) for v in value)
        return self._coerce_one(value, where)

    def _coerce_one(self, value: Any, where: str) -> Any:
        base = self.base
        ok = (
            value in self.choices
            if self.choices is not None
            else isinstance(value, bool)
            if base is bool
            else is_int(value)
            if base is int
            else is_number(value)
            if base is float
            else isinstance(value, base)
        )
        if not ok:
            raise CharLMError(f"{where}: {self.name} must be {self.kind()}, not {value!r}")
        return float(value) if base is float else value

    def kind(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        return {int: "a whole number", float: "a number", bool: "true or false"}.get(
            self.base, "text"
        )

    def problem(self, value: Any) -> str | None:
        """What is wrong with a value by this option's own rule, e.g. "must be at least 0,
        not -1" (the CLI puts the flag before it, a form its own label), or None."""
        if value is None:
            return None if self.optional else "needs a value"
        if self.repeated:
            return next((p for v in value if (p := self._problem_of_one(v)) is not None), None)
        return self._problem_of_one(value)

    def _problem_of_one(self, value: Any) -> str | None:
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, not {value!r}"
        if self.range is not None and not self.range.contains(value):
            return f"must be {self.range.describe()}, not {value}"
        return self.check(value) if self.check is not None else None

    def validate(self, value: Any) -> None:
        if (problem := self.problem(value)) is not None:
            raise CharLMError(f"{self.flag} {problem}")


def option(
    default: Any,
    help: str,
    group: str,
    *,
    range: Range | None = None,
    check: Callable[[Any], str | None] | None = None,
    resumable: bool = False,
    steerable: bool = False,
    form: str | None = None,
    cli: bool = True,
    metavar: str | None = None,
    cli_name: str | None = None,
) -> Any:
    """A dataclass field that carries its Spec (completed with name and type by `specs`).
    A steerable option is resumable too: what steering changed, a resume keeps."""
    meta = dict(
        help=help,
        group=group,
        range=range,
        check=check,
        resumable=resumable or steerable,
        steerable=steerable,
        form=form,
        cli=cli,
        metavar=metavar,
        cli_name=cli_name,
    )
    return field(default=default, metadata={"option": meta})


def like(spec: Spec, default: Any = None, help: str | None = None, **changes: Any) -> Any:
    """An option declared as another one is (its help, range, check, metavar), with its
    own default: e.g. `steer --eval-interval`, whose rule is `train --eval-interval`'s."""
    return option(
        default,
        spec.help if help is None else help,
        changes.pop("group", spec.group),
        range=changes.pop("range", spec.range),
        check=changes.pop("check", spec.check),
        metavar=changes.pop("metavar", spec.metavar),
        form=changes.pop("form", spec.form),
        **changes,
    )


@cache
def specs(cls: type, section: str = "") -> dict[str, Spec]:
    """The Specs of a dataclass's declared fields, by name, in declaration order."""
    assert is_dataclass(cls), cls
    hints = get_type_hints(cls)
    declared = (f for f in fields(cls) if "option" in f.metadata)
    return {
        f.name: Spec(f.name, f.default, hints[f.name], section=section, **f.metadata["option"])
        for f in declared
    }


def build(cls: type, values: dict[str, Any]) -> Any:
    """An instance of a declared dataclass from the values given (the rest default),
    each checked by its own rule (CharLMError naming the flag), then by the class's
    `check()` for rules that tie options together, if it has one."""
    declared = specs(cls)
    unknown = set(values) - set(declared)
    if unknown:
        raise CharLMError(f"unknown option(s): {', '.join(sorted(map(flag, unknown)))}")
    out = {name: values.get(name, spec.default) for name, spec in declared.items()}
    for name, spec in declared.items():
        if spec.base is float and is_int(out[name]):
            out[name] = float(out[name])
        spec.validate(out[name])
    instance = cls(**out)
    if callable(check := getattr(instance, "check", None)):
        check()
    return instance
