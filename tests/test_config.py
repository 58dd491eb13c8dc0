"""The run configuration is declared once; everything else derives from it (core/config.py).

Every field has exactly one `train` flag, a config turns into a command line and back
into the same config (for every preset and for random valid configs), and the README
documents every flag.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from charlm_tui.core.config import (
    LENGTH_FIELDS,
    PRESETS,
    RESUMABLE,
    SPECS,
    STEERABLE,
    ModelConfig,
    TrainConfig,
    build_configs,
    configs_from_values,
    form_specs,
    from_dict,
    preset_values,
    to_argv,
    to_dict,
)
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.options import Range, Spec
from charlm_tui.core.runs.control import parse_control
from charlm_tui.core.runs.rundir import CONTROL_DEFAULTS
from charlm_tui.tui.cli import app
from charlm_tui.tui.cli.training.train import plan_of

ROOT = Path(__file__).resolve().parent.parent
TRAIN = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]


def parse(argv: list[str], out: Path) -> tuple[ModelConfig, TrainConfig]:
    """What `charlm-tui train ARGV --out OUT` would train, without training it."""
    plan = plan_of([*argv, "--out", str(out)])
    return plan.mcfg, plan.tcfg


def test_every_field_has_exactly_one_flag() -> None:
    options = {p.name: p for p in TRAIN.params if p.name in SPECS}
    cli = {n for n, s in SPECS.items() if s.cli}
    assert set(options) == cli == set(SPECS) - {"vocab_size"}
    for name, param in options.items():
        assert param.opts == [SPECS[name].flag], name
        if SPECS[name].base is bool:
            assert param.secondary_opts == ["--no-" + SPECS[name].flag[2:]]
    flags = [o for p in TRAIN.params for o in p.opts + p.secondary_opts]
    assert len(flags) == len(set(flags))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_round_trips_through_the_command_line(preset: str, tmp_path: Path) -> None:
    mcfg, tcfg = build_configs(preset)
    assert parse(to_argv(mcfg, tcfg), tmp_path / "run") == (mcfg, tcfg)
    assert parse(["--preset", preset], tmp_path / "run") == (mcfg, tcfg)


def test_presets_are_deltas_on_the_base_and_the_base_is_the_default() -> None:
    base = {n: s.default for n, s in SPECS.items()}
    assert PRESETS["cpu"] == {}  # the default preset is the base: nothing invisible
    assert build_configs() == build_configs("cpu") == configs_from_values(base)
    for name, delta in PRESETS.items():
        values = preset_values(name)
        changed = {k for k in values if values[k] != base[k]}
        assert changed <= set(delta) | {"preset", *LENGTH_FIELDS}, name  # one run length
        assert all(k in SPECS for k in delta), name


def _value(spec: Spec) -> st.SearchStrategy[Any]:
    if spec.choices is not None:
        return st.sampled_from(spec.choices)
    if spec.base is bool:
        return st.booleans()
    if spec.name == "device":
        return st.sampled_from(["auto", "cpu", "cuda", "cuda:1", "mps"])
    if spec.base is str:
        return st.text(
            st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=20
        ).filter(str.strip)
    r = spec.range or Range()
    if spec.base is int:
        lo = int(r.lo or 0) + (1 if r.lo_open else 0)
        return st.integers(lo, min(int(r.hi) if r.hi is not None else 10**6, lo + 10**6))
    return st.floats(
        r.lo or 0.0,
        min(r.hi if r.hi is not None else 1e6, 1e6),
        exclude_min=r.lo_open,
        exclude_max=r.hi_open,
        allow_nan=False,
    )


CONFIGS = st.fixed_dictionaries(
    {n: _value(s) for n, s in SPECS.items() if n not in ("vocab_size", "max_iters", "time_budget")}
).flatmap(
    lambda v: st.one_of(
        st.builds(lambda n: {**v, "max_iters": n, "time_budget": None}, _value(SPECS["max_iters"])),
        st.builds(
            lambda t: {**v, "max_iters": None, "time_budget": t}, _value(SPECS["time_budget"])
        ),
    )
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=CONFIGS)
def test_random_valid_configs_round_trip(values: dict[str, Any], tmp_path: Path) -> None:
    try:
        mcfg, tcfg = configs_from_values({**values, "vocab_size": 0})
    except CharLMError:
        assume(False)  # the cross-field rules (divisible heads, min_lr <= lr) said no
    assert parse(to_argv(mcfg, tcfg), tmp_path / "run") == (mcfg, tcfg)
    assert from_dict(to_dict(mcfg, tcfg)) == (mcfg, tcfg)  # config.json and checkpoints


def test_giving_one_run_length_clears_the_other() -> None:
    assert build_configs("cpu", {"max_iters": 5})[1].length.iters == 5
    assert build_configs("tiny", {"time_budget": 5.0})[1].length.seconds == 5.0
    with pytest.raises(CharLMError, match="exactly one"):
        build_configs("tiny", {"max_iters": 5, "time_budget": 5.0})


def test_a_crafted_configuration_is_refused_in_one_line() -> None:
    good = to_dict(*build_configs("tiny"))
    for section, key, value, message in [
        ("model", "n_head", 0, "--n-head must be in"),
        ("model", "n_head", 3, "divisible"),
        ("model", "n_layer", "two", "n_layer must be a whole number"),
        ("train", "batch_size", 0, "--batch-size must be in"),
        ("train", "eval_interval", 0, "--eval-interval must be in"),
        ("train", "lr", float("nan"), "--lr must be"),
        ("model", "dropout", True, "dropout must be a number"),
        ("train", "bogus", 1, "unknown configuration field 'bogus'"),
    ]:
        crafted = {**good, section: {**good[section], key: value}}
        with pytest.raises(CharLMError, match=re.escape(message)):
            from_dict(crafted, "ckpt.pt")


def test_resumable_and_form_fields_come_from_the_declarations() -> None:
    steerable = tuple(n for n, s in SPECS.items() if s.steerable)  # in declaration order
    resumable = {n for n, s in SPECS.items() if s.resumable}
    assert STEERABLE == steerable and RESUMABLE == resumable
    assert steerable and resumable < set(SPECS)  # some of each, and not every option
    assert set(steerable) <= resumable  # what steering changed, a resume keeps

    # `train --resume`'s help names exactly the resumable flags.
    (resume,) = (p for p in TRAIN.params if p.name == "resume")
    listed = re.findall(r"--[a-z0-9-]+", resume.help.split("may change:", 1)[1])
    assert sorted(listed) == sorted(SPECS[n].flag for n in resumable)

    # control.json takes exactly the steerable options, each with its value; the others
    # are not its business and are ignored.
    mcfg, tcfg = build_configs("tiny")
    by_time = build_configs("tiny", {"time_budget": 30.0})[1]

    def valid(name: str) -> Any:
        config = tcfg if SPECS[name].section == "train" else mcfg
        value = getattr(config, name)
        return getattr(by_time, name) if value is None else value

    taken = {}
    for name in SPECS:
        requests = parse_control(json.dumps({name: valid(name)}, default=str).encode())
        taken.update({k: v for k, v in requests.items() if k not in CONTROL_DEFAULTS})
    assert taken == {name: valid(name) for name in steerable}

    assert [s.name for s in form_specs()][:2] == ["data", "preset"]


def test_the_readme_documents_every_flag() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `train`", 1)[1].split("\n### ", 1)[0]
    missing = [s.flag for s in SPECS.values() if s.cli and f"`{s.flag}" not in section]
    assert not missing, f"README's train table lacks {missing}"
