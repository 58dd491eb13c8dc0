"""The architecture ladder: one model after another on one corpus, with one time budget
and one seed (or several, `--seeds`; and each at every cell of a `--grid`), each into its
own run folder under `checkpoints/<ladder>/<rung>/`. A seed group (`train --seeds`) is
the same folder of members, made from one run's options.

The default rungs retrace the experiment log this project grew out of: a bigram table,
then one transformer block with a single attention head of 384, the same block with six
heads of 64, then two such blocks (the `seed` preset's model), with Bengio's MLP and
char-rnn's LSTM where they belong in that history. Every rung gets the same number of
seconds, so the ladder answers "what does each idea buy in a minute of this machine",
not "per step": a model that is cheap per step and one that is cheap per second are
different winners (compare them with the x axis in seconds).

The folder's `ladder.json` records what the ladder is (corpus, budget, seed, its members
and the options each resolves to), so rerunning the same command carries on where it
stopped: a finished rung is skipped, a
stopped or killed one resumes from its last.pt, a rung never started starts.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charlm_tui.core import paths
from charlm_tui.core.config import (
    MODEL_FIELDS,
    MODEL_USES,
    NOT_LEARNED,
    SPECS,
    build_configs,
    values_of,
)
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.experiments.sweep import (
    Replicas,
    cells,
    check_size,
    first_repeated,
    member_name,
    parse_axis,
    parse_grid,
)
from charlm_tui.core.files import atomic_write_text
from charlm_tui.core.options import Range, like, option
from charlm_tui.core.runs.labels import Labels
from charlm_tui.core.runs.records import dump_json, read_json
from charlm_tui.core.runs.rundir import LADDER, checkpoint_name, is_run_dir
from charlm_tui.core.training.plan import (
    Placement,
    RunPlan,
    Start,
    check_corpus,
    check_run_name,
    default_run_name,
    plan_new,
    plan_resume,
    started,
)

FORMAT = "charlm-ladder/1"


@dataclass(frozen=True)
class Rung:
    name: str  # its folder in the ladder
    preset: str | None  # None: the default preset
    overrides: dict[str, Any] = field(default_factory=dict)
    about: str = ""


# The GPT rungs take the seed's architecture (learned positions, GELU, AdamW) at the cpu
# preset's batch and context (12 x 128): at the seed's own 64 x 256 a step of the 2-block
# model takes ~4 s on a 2-core CPU, so a minute would buy 15 steps. No dropout (a short
# budget never overfits) and a short warmup. Eval and sample time count against the
# budget like everything else: on a busy 2-core machine one eval of 5 batches per split
# took 0.5-2 s and a 200-character sample up to 2 s at this width, so evals come every 40
# steps and there are no samples (the one at step 0 would be noise, bought with seconds).
_GPT = dict(
    block_size=128,
    batch_size=12,
    dropout=0.0,
    lr=2e-3,
    min_lr=2e-4,
    warmup_iters=20,
    eval_interval=40,
    eval_iters=5,
    sample_interval=0,
)
# Samples every N steps, N sized so a minute gives one or two (a bigram runs ~1k steps/s);
# the recurrent presets' 20 eval batches would cost ~12% of a minute: 10 every 100 steps.
_CELL = dict(eval_interval=100, eval_iters=10, sample_interval=500)
RUNGS: dict[str, Rung] = {
    r.name: r
    for r in (
        Rung("bigram", "bigram", dict(sample_interval=20_000), "a V×V table of next-char logits"),
        Rung(
            "mlp", "mlp", dict(sample_interval=1000), "Bengio et al. 2003: 16 chars, one tanh layer"
        ),
        Rung("rnn", "rnn", _CELL, "char-rnn: 2 vanilla RNN layers of 128"),
        Rung("gru", "gru", _CELL, "char-rnn: 2 GRU layers of 128"),
        Rung("lstm", "lstm", _CELL, "char-rnn: 2 LSTM layers of 128"),
        Rung("gpt-1head", "seed", {**_GPT, "n_layer": 1, "n_head": 1}, "1 block, 1 head of 384"),
        Rung("gpt-6heads", "seed", {**_GPT, "n_layer": 1, "n_head": 6}, "1 block, 6 heads of 64"),
        Rung("gpt-2blocks", "seed", {**_GPT, "n_layer": 2, "n_head": 6}, "2 blocks, 6 heads of 64"),
        Rung("gpt-cpu", "cpu", {}, "the cpu preset: 3×4×128, rope, relu2, Muon"),
    )
}
DEFAULT_RUNGS = ("bigram", "mlp", "lstm", "gpt-1head", "gpt-6heads", "gpt-2blocks")
DEFAULT_BUDGET_S = 60.0
# A rung ended like this is done: finished, or diverged (the same seed would diverge again).
DONE = ("finished", "diverged")


def parse_rungs(text: str | None) -> tuple[Rung, ...]:
    """--rungs a,b,c: known rung names, each once, in the order given."""
    if text is None:
        return tuple(RUNGS[n] for n in DEFAULT_RUNGS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNGS]
    if unknown or not names:
        what = f"an unknown rung {unknown[0]!r}" if unknown else "no rung"
        raise CharLMError(f"--rungs names {what}: choose among {', '.join(RUNGS)}")
    if len(set(names)) != len(names):
        raise CharLMError(f"--rungs names a rung twice: {text!r}")
    return tuple(RUNGS[n] for n in names)


def default_name(data: str, time_budget: float) -> str:
    """ladder-<corpus>-<budget>s: the same command finds the same folder again."""
    stem = Path(data).stem if data else "corpus"
    return f"ladder-{stem or 'corpus'}-{time_budget:g}s"


@dataclass(frozen=True)
class Ladder:
    root: Path
    rungs: tuple[Rung, ...]
    data: str
    time_budget: float
    seed: int
    labels: Labels = field(default_factory=Labels)  # every rung's --tag and --notes
    # What every member shares on top of its preset and its own overrides. None: a
    # ladder's (the corpus and budget above, no iteration cap); a seed group gives the
    # options `train` was given.
    base: dict[str, Any] | None = None
    what: str = "ladder"  # what its errors call it: "ladder", "seed group"
    command: tuple[str, ...] = ()  # the command line that asked for it (provenance.json)
    swept: tuple[str, ...] = ()  # the options its grid sweeps
    seeds: int = 1  # replicas of each rung or run (--seeds)

    @property
    def part(self) -> str:
        """What one of its runs is called: a ladder's rung, a group's member."""
        return "rung" if self.what == "ladder" else "member"

    def overrides(self, rung: Rung) -> dict[str, Any]:
        """A member's options: its seed (the folder's, unless the member has its own), its
        rung's and grid cell's overrides, then what every member shares."""
        shared = (
            self.base
            if self.base is not None
            else {"data": self.data, "time_budget": self.time_budget, "max_iters": None}
        )
        return {"seed": self.seed, **rung.overrides, **shared}

    def rung_dir(self, rung: Rung) -> Path:
        return self.root / rung.name

    def run_dirs(self) -> list[Path]:
        """Every rung folder that holds a run, in the ladder's order."""
        return [self.rung_dir(r) for r in self.rungs if is_run_dir(self.rung_dir(r))]

    def status(self, rung: Rung) -> str:
        """new (nothing yet), or its run's status: finished, stopped, killed, running..."""
        from charlm_tui.core.runs.listing import run_view  # not for `ladder --help`

        view = run_view(self.rung_dir(rung))
        return "new" if view is None else view.status

    # -- checks ---------------------------------------------------------------------------

    def check(self) -> None:
        """Every rung's configuration, the corpus against each context length, and the
        folder: refused before anything is written."""
        blocks = {}
        for rung in self.rungs:
            try:
                blocks[rung.name] = build_configs(rung.preset, self.overrides(rung))[0].block_size
            except CharLMError as e:
                hint = "; choose other --grid values, or other --rungs" if self.swept else ""
                raise CharLMError(f"{self.what} {self.part} {rung.name}: {e}{hint}") from None
        widest = max(self.rungs, key=lambda r: blocks[r.name])  # the corpus must fit it
        check_corpus(plan_new(widest.preset, self.overrides(widest), Path("/nonexistent-ladder")))
        elsewhere = "choose another --name or --out"
        if self.root.exists() and not self.root.is_dir():
            raise CharLMError(f"{self.root} exists and is not a folder: {elsewhere}")
        if is_run_dir(self.root):
            raise CharLMError(f"{self.root} holds a run, not a {self.what}: {elsewhere}")
        saved = read_ladder(self.root)
        if saved is None and (self.root / LADDER).exists():
            raise CharLMError(
                f"{self.root / LADDER} is not a ladder.json of charlm-tui (damaged, or another "
                f"program's): {elsewhere}"
            )
        if saved is None and self.root.is_dir() and any(self.root.iterdir()):
            raise CharLMError(f"{self.root} holds files but no {LADDER}: {elsewhere}")
        if saved is not None:
            self._check_same(saved)

    def _check_same(self, saved: dict[str, Any]) -> None:
        """A member already in the folder is planned with the options it resolved to
        there (its preset and overrides, as ladder.json has them): the first option that
        differs is named, with the value to rerun with. What changes only how a member
        runs (--threads, --device...) may change."""
        theirs_all = saved.get("members")
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        if isinstance(theirs_all, dict):
            for rung in self.rungs:
                if (theirs := theirs_all.get(rung.name)) is None:
                    continue
                pairs.append((resolved(rung.preset, self.overrides(rung)),
                              self._saved_member(rung.name, theirs)))  # fmt: skip
        else:  # a ladder.json of an older version: its corpus, budget and seed
            keys = ("data", "time_budget", "seed")
            mine = dict(data=self.data, time_budget=self.time_budget, seed=self.seed)
            pairs.append((mine, {k: saved.get(k) for k in keys}))
        for mine, theirs in pairs:
            for key in sorted((set(mine) | set(theirs)) - NOT_LEARNED - {"vocab_size"}):
                if mine.get(key) != theirs.get(key):
                    flag = "--" + key.replace("_", "-")
                    if theirs.get(key) is None:
                        had = f"without {flag}: rerun without it"
                    else:
                        now = "" if mine.get(key) is None else f", not {mine.get(key)}"
                        had = f"with {flag} {theirs.get(key)}{now}: rerun with that"
                    raise CharLMError(
                        f"{self.root} is a {self.what} {had} to carry on, or choose another --name"
                    )

    def _saved_member(self, name: str, theirs: Any) -> dict[str, Any]:
        """A member's options as ladder.json records them, resolved; one line if they
        cannot be (a file from elsewhere, edited, or damaged)."""
        try:
            if not isinstance(theirs, dict) or not isinstance(theirs.get("overrides"), dict):
                raise CharLMError("not a preset and options")
            preset = theirs.get("preset")
            return resolved(preset if isinstance(preset, str) else None, theirs["overrides"])
        except CharLMError as e:
            raise CharLMError(
                f"{self.root / LADDER}: its member {name!r} cannot be read ({e}): choose "
                "another --name"
            ) from None

    def claim(self) -> None:
        """Write ladder.json (its rungs: the ones it had, then any new ones)."""
        saved = read_ladder(self.root) or {}
        before = [r for r in saved.get("rungs", []) if isinstance(r, str)]
        rungs = before + [r.name for r in self.rungs if r.name not in before]
        members = saved.get("members") if isinstance(saved.get("members"), dict) else {}
        for rung in self.rungs:  # what each member was planned with, checked on a rerun
            members[rung.name] = {"preset": rung.preset, "overrides": self.overrides(rung)}
        body = dict(
            format=FORMAT,
            kind=self.what,
            data=self.data,
            time_budget=self.time_budget,
            seed=self.seed,
            rungs=rungs,
            grid=list(self.swept),
            members=members,
            created=saved.get("created", time.time()),
        )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.root / LADDER, dump_json(body, indent=2) + "\n")
        except OSError as e:
            raise CharLMError(
                f"cannot write the {self.what} folder {self.root}: {e.strerror or e}"
            ) from None

    # -- what to train next ---------------------------------------------------------------

    def plan(self, rung: Rung) -> RunPlan | None:
        """The next training of a rung: new, resumed, or None when it is done."""
        where = self.rung_dir(rung)
        status = self.status(rung)
        if status in DONE:
            return None
        if status in ("running", "paused"):
            raise CharLMError(
                f"{self.what} {self.part} {rung.name} is training in another process ({where}): "
                "wait for it or stop it, then rerun"
            )
        if status != "new" and (where / checkpoint_name("last")).is_file():
            plan = plan_resume(where, "last")
        else:  # never started, or killed before its first checkpoint: start it (again)
            plan = plan_new(rung.preset, self.overrides(rung), where, overwrite=is_run_dir(where))
        return dataclasses.replace(plan, labels=self.labels, command=self.command)

    def next(self, tried: Iterable[str] = ()) -> tuple[Rung, RunPlan] | None:
        """The first rung with training left, skipping those already tried this session
        (a rung whose records cannot be read would otherwise be retried forever)."""
        tried = set(tried)
        for rung in self.rungs:
            if rung.name in tried:
                continue
            plan = self.plan(rung)
            if plan is not None:
                return rung, plan
        return None

    def carries_on(self, rung: Rung) -> bool:
        """After a rung's training ended: go on to the next rung? (Not after a stop.)"""
        return self.status(rung) in DONE

    def position(self, rung: Rung) -> str:
        return f"{self.rungs.index(rung) + 1}/{len(self.rungs)}"


def resolved(preset: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Every option of a run planned from a preset and overrides, as JSON has them."""
    plain = json.loads(dump_json(values_of(*build_configs(preset, dict(overrides)))))
    assert isinstance(plain, dict)
    return plain


def read_ladder(folder: Path) -> dict[str, Any] | None:
    raw = read_json(folder / LADDER)
    return raw if isinstance(raw, dict) and raw.get("format") == FORMAT else None


def _rungs_problem(text: str) -> str | None:
    try:
        parse_rungs(text)
    except CharLMError as e:
        return str(e).removeprefix("--rungs ")
    return None


def _axis_problem(text: str) -> str | None:
    try:
        parse_axis(text)
    except CharLMError as e:
        return str(e).removeprefix("--grid ")
    return None


@dataclass(frozen=True)
class LadderOptions:
    """What `charlm-tui ladder` is asked for: the corpus, budget and seed every rung
    shares, which rungs, and where the ladder's folder is."""

    data: str = like(
        SPECS["data"], "shakespeare", help="Corpus: a text file, a folder of *.txt, or a built-in."
    )
    time_budget: float = option(
        DEFAULT_BUDGET_S,
        "Training seconds per rung.",
        "schedule",
        range=Range(0.0, 1e7, lo_open=True),
        metavar="SECONDS",
    )
    rungs: str | None = option(
        None,
        "Comma-separated, in order. Default: " + ",".join(DEFAULT_RUNGS) + "; also "
        + ", ".join(r for r in RUNGS if r not in DEFAULT_RUNGS) + ".",
        "ladder",
        check=_rungs_problem,
    )  # fmt: skip
    seed: int = like(SPECS["seed"], SPECS["seed"].default, help="The seed of every rung.")
    grid: tuple[str, ...] = option(
        (),
        "Sweep an option over values, every rung at each: NAME=V1,V2,… (repeat for more "
        "options: every combination). Ends with val loss against each swept option.",
        "ladder",
        check=_axis_problem,
        metavar="NAME=V,…",
    )
    name: str | None = option(
        None, "Folder under checkpoints/ (default: ladder-<corpus>-<budget>s).", "ladder"
    )
    out: Path | None = option(None, "The ladder's folder, anywhere.", "ladder", metavar="DIR")

    def check(self) -> None:
        if self.out is not None and self.name is not None:
            raise CharLMError("give --out or --name, not both")


def make_ladder(
    options: LadderOptions, labels: Labels | None = None, replicas: Replicas | None = None
) -> Ladder:
    """The ladder the CLI was asked for, checked (nothing written yet): each rung at each
    cell of the grid, with each seed."""
    name = check_run_name(options.name) if options.name is not None else None
    root = options.out or paths.runs_dir() / (
        name or default_name(options.data, options.time_budget)
    )
    seeds = (replicas or Replicas()).seed_list(options.seed)
    axes = parse_grid(options.grid)
    grid = cells(axes)
    chosen = parse_rungs(options.rungs)
    for rung in chosen:  # a sweep of what a model ignores trains copies
        model = build_configs(rung.preset, rung.overrides)[0].model
        for axis in axes:
            if axis.name in MODEL_FIELDS and axis.name not in MODEL_USES.get(model, MODEL_FIELDS):
                raise CharLMError(
                    f"--grid {axis.name}: the {rung.name} rung's model ({model}) does not read "
                    f"{axis.spec.flag}: leave that rung out (--rungs) or sweep another option"
                )
    check_size(len(chosen) * len(grid) * len(seeds))
    rungs = tuple(
        Rung(member_name(r.name, cell, s, options.seed), r.preset,
             {**r.overrides, **cell, "seed": s}, r.about)
        for r in chosen for cell in grid for s in seeds
    )  # fmt: skip
    names = [check_run_name(r.name, "--grid makes a member name that") for r in rungs]
    if (twice := first_repeated(names)) is not None:
        raise CharLMError(f"--grid gives two members one name, {twice!r}: give distinct values")
    ladder = Ladder(
        root, rungs, options.data, float(options.time_budget), options.seed,
        (labels or Labels()).normalised(), swept=tuple(a.name for a in axes), seeds=len(seeds),
    )  # fmt: skip
    ladder.check()
    return ladder


def plan_group(
    given: dict[str, Any], where: Placement, start: Start, labels: Labels, replicas: Replicas
) -> Ladder:
    """`train --seeds N`: the run `train` was asked for, N times with seeds seed, seed+1,
    …, each a member of the folder the run would have gone to; checked, nothing written.
    Rerunning the command carries the group on, as a ladder does."""
    if where.resume:
        raise CharLMError(
            "a seed group carries on when its command is run again: leave out --resume"
        )
    if where.overwrite:
        raise CharLMError(
            "--overwrite does not apply to a seed group: choose another --name, or delete "
            "the group's folder first"
        )
    options, labels = started(start, given, labels)
    preset = options.pop("preset", None)
    seed = options.pop("seed", SPECS["seed"].default)
    mcfg, tcfg = build_configs(preset, {**options, "seed": seed})
    name = check_run_name(where.name) if where.name is not None else None
    root = where.out or paths.runs_dir() / (name or default_run_name(mcfg, tcfg))
    rungs = tuple(
        Rung(member_name("", {}, s, seed), preset, {"seed": s}, f"seed {s}")
        for s in replicas.seed_list(seed)
    )
    ladder = Ladder(
        root, rungs, tcfg.data, float(tcfg.time_budget or 0.0), seed, labels.normalised(),
        base=options, what="seed group", seeds=replicas.seeds,
    )  # fmt: skip
    ladder.check()
    return ladder


# -- headless --------------------------------------------------------------------------------


class LadderSession:
    """A ladder trained rung after rung by one front end (the CLI, the app): which rung
    comes next, skipping those tried this session (a rung whose records cannot be read
    would otherwise be retried forever), and whether the ladder carries on after one."""

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder
        self.tried: list[Rung] = []

    def next(self) -> tuple[Rung, RunPlan] | None:
        """The next rung to train and its plan; None when every rung is done."""
        self.ladder.claim()
        step = self.ladder.next(r.name for r in self.tried)
        if step is not None:
            self.tried.append(step[0])
        return step

    def announce(self, rung: Rung, plan: RunPlan) -> str:
        how = "resuming" if plan.resuming else "training"
        lad = self.ladder  # what it does first: a long member name may be cut short
        return f"{lad.part} {lad.position(rung)}, {how}: {rung.name} ({rung.about})"

    def stopped(self) -> str | None:
        """After the last rung's training ended: None to go on, else why it stops here."""
        rung = self.tried[-1]
        if self.ladder.carries_on(rung):
            return None
        return f"{self.ladder.what} stopped at {rung.name}: rerun the command to carry on"


def run_ladder(
    ladder: Ladder,
    train: Callable[[Rung, RunPlan], str],
    announce: Callable[[str], None],
) -> str:
    """Train every rung with training left, in order: `train(rung, plan)` runs one and
    returns how it ended. Returns "finished", or the reason the ladder stopped."""
    session = LadderSession(ladder)
    while (step := session.next()) is not None:
        rung, plan = step
        announce(session.announce(rung, plan))
        reason = train(rung, plan)
        if (why := session.stopped()) is not None:
            announce(f"{why} ({reason})")
            return reason
    return "finished"
