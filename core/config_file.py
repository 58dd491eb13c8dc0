"""Run configurations as TOML files: `train --config FILE` reads one, `charlm-tui config
RUN` writes one.

A file's keys are the options' names (`n_layer` or `n-layer`), checked by the same
declarations as the flags: an unknown key names the nearest option, a bad value gets the
option's own error, each with the file and line. A file is flat: one `key = value` per
option, `#` comments anywhere.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import read_capped
from charlm_tui.core.options import Spec

MAX_BYTES = 1 << 20  # a configuration is a few hundred bytes; a bigger file is a mistake


def read_config_file(
    path: Path, allowed: dict[str, Spec], hints: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The options a TOML file gives, by name, each checked by its declaration in
    `allowed`; a one-line CharLMError naming the file (and line) for anything wrong.
    `hints`: names that are flags of the command but not file options."""
    try:
        raw = read_capped(path, MAX_BYTES, "a configuration")
    except CharLMError as e:
        raise CharLMError(f"--config: {e}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise CharLMError(f"--config {path}: not UTF-8 (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise CharLMError(f"--config {path}: not valid TOML: {e}") from None
    by_name = {name.replace("_", "-"): spec for name, spec in allowed.items()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}:{line_of(text, key)}"
        spec = by_name.get(key.replace("_", "-"))
        if spec is None and key.replace("-", "_") in hints:
            raise CharLMError(f"{where}: {key} is a command-line flag, not a file option")
        if spec is None:
            raise CharLMError(f"{where}: unknown option {key!r}{nearest(key, by_name)}")
        if isinstance(value, dict):
            raise CharLMError(
                f"{where}: [{key}] is a section; the file is flat: write its options at "
                "the top, without [sections]"
            )
        if spec.name in out:
            raise CharLMError(f"{where}: {key} is given twice (as - and _)")
        if isinstance(value, float) and not math.isfinite(value):
            raise CharLMError(f"{where}: {key} must be a finite number, not {value}")
        if spec.repeated and isinstance(value, str):  # tag = "a": one value, not a list
            raise CharLMError(f"{where}: {key} takes a list: {key} = [{toml_string(value)}]")
        value = spec.coerce(value, where)
        if (problem := spec.problem(value)) is not None:
            raise CharLMError(f"{where}: {key} {problem}")
        out[spec.name] = value
    return out


def line_of(text: str, key: str) -> int:
    """The line where `key` is set (1-based), or 1 when it cannot be found."""
    quoted = re.escape(key)
    pattern = re.compile(rf"""^\s*(?:{quoted}|"{quoted}"|'{quoted}')\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 1


def nearest(key: str, names: dict[str, Spec]) -> str:
    close = difflib.get_close_matches(key.replace("_", "-"), list(names), n=1, cutoff=0.6)
    return f"; did you mean {close[0].replace('-', '_')!r}?" if close else ""


# -- writing ------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A value as TOML writes it; strings escaped so the file is exact and never holds a
    raw control character (it is printed on terminals)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest round trip; never inf/nan (the options' ranges)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08X}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def dump_config(values: dict[str, Any], specs: dict[str, Spec], header: str = "") -> str:
    """Every option in `specs` that has a value, one `key = value` a line, under a comment
    naming its group; options with no value (None) are left out."""
    lines = [f"# {line}" for line in header.splitlines()]
    group = None
    for name, spec in specs.items():
        value = values.get(name)
        if value is None:
            continue
        if spec.group != group:
            group = spec.group
            lines += ["", f"# {group}"]
        lines.append(f"{name} = {toml_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"
