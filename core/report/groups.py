"""Seed groups: runs whose configuration differs only in the seed, and what their spread
says — n, mean ± std, the curves' mean with a min–max band, and two groups' difference
with a 95% confidence interval and Welch's t-test (scipy.stats).

A group comes from what the runs recorded (config.json), not from how they were started:
two runs trained a week apart with the same options are replicas. With one run a group
says "1 seed" rather than inventing a spread; the test needs two runs on each side.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from charlm_tui.core.config import NOT_LEARNED
from charlm_tui.core.runs.records import dump_json

if TYPE_CHECKING:
    from charlm_tui.core.report.rows import Row

# The numbers a group summarises: best val loss (best.pt's, full split once scored), the
# last eval's val estimate, bits per character and top-1 accuracy.
METRICS = {
    "val_loss": "best val loss",
    "final_val_loss": "final val loss",
    "val_bpc": "val bpc",
    "val_top1": "val top@1",
}
CONFIDENCE = 0.95
_SEED_SUFFIX = re.compile(r"[+/_-]s\d+$|^s\d+$")


def learning_key(config: dict[str, Any]) -> str | None:
    """What a run learns, its seed aside: its model and training options and the hash of
    its corpus, as one canonical string; None when config.json says nothing usable."""
    model, train = config.get("model"), config.get("train")
    if not isinstance(model, dict) or not isinstance(train, dict):
        return None
    corpus = config.get("corpus")
    sha = corpus.get("sha256") if isinstance(corpus, dict) else None
    # The text, not where it was read from: the same corpus at two paths is one corpus.
    known = isinstance(sha, str)
    ignored = NOT_LEARNED | {"seed"} | ({"data"} if known else set())
    body = {
        "model": model,
        "train": {k: v for k, v in train.items() if k not in ignored},
        "corpus": sha if known else train.get("data"),
    }
    return dump_json(body, sort_keys=True)


@dataclass(frozen=True)
class Stat:
    """One number over a group's runs: n of them known, mean, sample std (n ≥ 2)."""

    n: int
    mean: float | None
    std: float | None
    lo: float | None
    hi: float | None

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        xs = [v for v in values if v is not None and math.isfinite(v)]
        if not xs:
            return cls(0, None, None, None, None)
        std = statistics.stdev(xs) if len(xs) > 1 else None
        return cls(len(xs), statistics.fmean(xs), std, min(xs), max(xs))

    def text(self, fmt: str = ".4f") -> str:
        """`1.2345 ± 0.0123`, `1.2345 (1 seed)`, or `–`."""
        if self.mean is None:
            return "–"
        if self.std is None:
            return f"{self.mean:{fmt}} (1 seed)"
        return f"{self.mean:{fmt}} ± {self.std:{fmt}}"


@dataclass(frozen=True)
class Group:
    """Runs that differ only in their seeds, in the order they were given."""

    name: str
    rows: tuple[Row, ...]

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.rows]

    def stat(self, metric: str) -> Stat:
        return Stat.of([getattr(r, metric) for r in self.rows])

    def iters_text(self) -> str:
        """`200`, or `415–901` when the runs reached different iterations (a time budget
        shared with other work: part of the spread is then the machine's, not the seed's)."""
        its = [r.iters for r in self.rows]
        return f"{min(its):,}" if min(its) == max(its) else f"{min(its):,}–{max(its):,}"

    def stat_cells(self) -> list[str]:
        """mean ± std of each of METRICS, as tables show them."""
        return [self.stat(m).text(".2%" if m == "val_top1" else ".4f") for m in METRICS]

    def record(self) -> dict[str, Any]:
        """Plain values (JSON, CSV): n, seeds, runs, and each metric's mean/std/min/max."""
        rec: dict[str, Any] = {
            "group": self.name,
            "n": self.n,
            "seeds": self.seeds,
            "runs": [r.name for r in self.rows],
            "iters": [r.iters for r in self.rows],
            "model": self.rows[0].model,
            "params": self.rows[0].params,
        }
        for metric in METRICS:
            s = self.stat(metric)
            values = {"mean": s.mean, "std": s.std, "min": s.lo, "max": s.hi, "n": s.n}
            rec.update({f"{metric}_{k}": v for k, v in values.items()})
        return rec


def seeds_text(seeds: Sequence[int | None]) -> str:
    """`1337–1339` for a run of consecutive seeds, else `1, 5, 9` (`?` unrecorded)."""
    known = sorted(s for s in seeds if s is not None)
    consecutive = known == list(range(known[0], known[-1] + 1)) if known else False
    if len(known) > 2 and len(known) == len(seeds) and consecutive:
        return f"{known[0]}–{known[-1]}"
    return ", ".join("?" if s is None else str(s) for s in seeds)


def group_name(names: Sequence[str]) -> str:
    """What the runs are called, their seeds left out: `lad/gpt-cpu` for `lad/gpt-cpu`
    and `lad/gpt-cpu+s1338`; `grp` for `grp/s1337` and `grp/s1338`."""
    if len(names) == 1:  # one run: its own name says the most
        return names[0]
    stems = [_SEED_SUFFIX.sub("", n.rsplit("/", 1)[-1]) for n in names]
    folders = [n.rsplit("/", 1)[0] if "/" in n else "" for n in names]
    stem = stems[0] if len(set(stems)) == 1 else ""
    folder = folders[0] if len(set(folders)) == 1 else ""
    return "/".join(p for p in (folder, stem) if p) or f"{names[0]} (+{len(names) - 1})"


def group_rows(rows: Sequence[Row]) -> list[Group]:
    """The rows' seed groups, in the order their first run appears. A run whose
    configuration cannot be read is a group of its own; so is a second run of a seed a
    group already holds: the same run again is no replica (`NAME (repeat 2)`)."""
    keyed: dict[tuple[str, int], list[Row]] = {}
    for i, row in enumerate(rows):
        key, again = row.learns or f"\0unread {i}", 1
        while any(r.seed == row.seed for r in keyed.get((key, again), [])):
            again += 1
        keyed.setdefault((key, again), []).append(row)
    out = []
    for (_, again), rs in keyed.items():
        name = group_name([r.name for r in rs])
        out.append(Group(name + (f" (repeat {again})" if again > 1 else ""), tuple(rs)))
    return out


def replicated(groups: Sequence[Group]) -> bool:
    """Some group holds more than one run: a summary by group says something."""
    return any(g.n > 1 for g in groups)


@dataclass(frozen=True)
class Difference:
    """Group a's mean minus group b's, with a 95% confidence interval and Welch's p (both
    None with fewer than two runs on a side, or no spread at all)."""

    metric: str
    a: str
    b: str
    diff: float | None
    lo: float | None
    hi: float | None
    p: float | None
    why: str = ""  # when there is no test: why

    def record(self) -> dict[str, Any]:
        """Plain values (JSON): which groups, the difference, its interval, p."""
        return {"metric": self.metric, "group": self.a, "baseline": self.b, "diff": self.diff,
                "ci_low": self.lo, "ci_high": self.hi, "p": self.p, "why": self.why}  # fmt: skip

    def cells(self) -> list[str]:
        """The difference, its interval (or why there is none) and p, as tables show them."""
        interval = (
            f"[{self.lo:+.4f}, {self.hi:+.4f}]"
            if self.lo is not None and self.hi is not None
            else self.why
        )
        return [
            "–" if self.diff is None else f"{self.diff:+.4f}",
            interval,
            "–" if self.p is None else p_text(self.p),
        ]


def p_text(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def difference(a: Group, b: Group, metric: str = "val_loss") -> Difference:
    xs = [v for r in a.rows if (v := getattr(r, metric)) is not None and math.isfinite(v)]
    ys = [v for r in b.rows if (v := getattr(r, metric)) is not None and math.isfinite(v)]
    if not xs or not ys:
        return Difference(metric, a.name, b.name, None, None, None, None, "no values")
    diff = statistics.fmean(xs) - statistics.fmean(ys)
    texts = {r.corpus_sha256 for r in (*a.rows, *b.rows)}
    if len(texts - {None}) > 1:  # losses on two texts do not compare, whatever the test says
        return Difference(metric, a.name, b.name, diff, None, None, None, "different corpora")
    if len(xs) < 2 or len(ys) < 2:
        return Difference(metric, a.name, b.name, diff, None, None, None, "1 seed")
    if statistics.stdev(xs) == 0 and statistics.stdev(ys) == 0:
        return Difference(metric, a.name, b.name, diff, None, None, None, "no spread")
    from scipy import stats  # 0.3 s to import: only when two groups are tested

    res = stats.ttest_ind(xs, ys, equal_var=False)
    ci = res.confidence_interval(CONFIDENCE)
    return Difference(metric, a.name, b.name, diff, float(ci.low), float(ci.high),
                      float(res.pvalue))  # fmt: skip


def differences(groups: Sequence[Group], baseline: str | None = None) -> list[Difference]:
    """Each group's difference from the baseline group (the one holding the run named
    `baseline`, else the first) in best val loss."""
    if len(groups) < 2:
        return []
    base = next((g for g in groups if any(r.name == baseline for r in g.rows)), groups[0])
    return [difference(g, base) for g in groups if g is not base]


def band(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]],
) -> tuple[list[float], list[float], list[float], list[float]]:
    """A group's curve: at each x every run reached (the shortest run's x values, the
    others read off by linear interpolation), the mean, the min and the max."""
    curves = [(xs, ys) for xs, ys in curves if len(xs) > 0]
    if not curves:
        return [], [], [], []
    import numpy as np

    end = min(xs[-1] for xs, _ in curves)
    grid = np.asarray([x for x in min(curves, key=lambda c: c[0][-1])[0] if x <= end])
    table = np.stack([np.interp(grid, xs, ys) for xs, ys in curves])
    return (
        grid.tolist(),
        table.mean(axis=0).tolist(),
        table.min(axis=0).tolist(),
        table.max(axis=0).tolist(),
    )


Table = tuple[list[str], list[list[str]], list[bool]]  # head, rows (plain text), right-aligned


def group_table(groups: Sequence[Group]) -> Table:
    """Each seed group: n, its seeds, and mean ± std of each number ("1 seed" alone)."""
    head = ["group", "n", "seeds", "iters", *METRICS.values()]
    rows = [[g.name, str(g.n), seeds_text(g.seeds), g.iters_text(), *g.stat_cells()]
            for g in groups]  # fmt: skip
    return head, rows, [False, True, False, True, *[True] * len(METRICS)]


def test_table(tests: Sequence[Difference]) -> Table:
    """Each group's best val loss against the baseline group's: the difference of the
    means, its confidence interval, and Welch's p."""
    head = ["group", "Δ best val loss", f"{CONFIDENCE:.0%} CI", "p (Welch)"]
    return head, [[d.a, *d.cells()] for d in tests], [False, True, False, True]
