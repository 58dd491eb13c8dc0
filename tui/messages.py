"""Messages: how screens and workers tell the app what happened or what they want.

Screens never call the app's methods: they post one of these and the app handles it
with `@on` (tui/app.py). Workers post them too, so results arrive on the UI thread as
typed messages instead of being dispatched on worker group names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message

from charlm_tui.core.decoding.options import GenerateOptions, Source
from charlm_tui.core.training.plan import RunPlan


@dataclass
class OpenRun(Message):
    """Show a run's dashboard."""

    run_dir: Path


@dataclass
class OpenGenerate(Message):
    """Open a checkpoint in the generate pane."""

    path: Path
    options: GenerateOptions | None = None


@dataclass
class OpenInspect(Message):
    """Score a text with a checkpoint and show the inspect screen: a slice of a split
    by default; `text`, when given, is what `source` already read."""

    path: Path
    source: Source = field(default_factory=Source)
    text: str | None = None


@dataclass
class InspectReady(Message):
    """A worker scored the text: the inspect screen can open."""

    model: Any
    inspection: Any
    label: str


@dataclass
class InspectFailed(Message):
    """A worker could not score the text: the one-line reason."""

    error: str


@dataclass
class OpenNewRunForm(Message):
    """Show the new-run form."""


@dataclass
class StartRun(Message):
    """Check a planned run off the UI thread, then train it in a child process."""

    plan: RunPlan


@dataclass
class ResumeRun(Message):
    run_dir: Path


@dataclass
class RunChecked(Message):
    """A worker checked a plan: it can start."""

    plan: RunPlan


@dataclass
class RunRefused(Message):
    """A worker found a plan cannot start: the one-line reason."""

    error: str


@dataclass
class TrainingEnded(Message):
    """The training child exited (code), or the app stopped following it (None)."""

    code: int | None


@dataclass
class OpenCompare(Message):
    """Compare runs side by side (and score them on their full val split first)."""

    run_dirs: list[Path]
    full_eval: bool = False
    baseline: str | None = None
