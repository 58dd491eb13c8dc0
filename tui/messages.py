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
class GenerateReady(Message):
    """A worker loaded a checkpoint for the generate pane, and started its decoder child
    (None when it could not: the pane tries again, and says why, when asked for text)."""

    model: Any
    vocab: Any
    label: str
    path: Path
    options: GenerateOptions | None
    precision: str  # int8 or fp32, as resolved for this model
    decoder: Any


@dataclass
class LoadFailed(Message):
    """A worker could not load what a screen needs: the one-line reason."""

    what: str  # "generate", "inspect": said in the notification's title
    error: str


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
@dataclass
class OpenNewRunForm(Message):
    """Show the new-run form: from the presets, or from a run's configuration."""

    from_run: Path | None = None


@dataclass
class StartRun(Message):
    """Check a planned run off the UI thread, then train it in a child process."""

    plan: RunPlan


@dataclass
class ResumeRun(Message):
    """Continue a run; `changed`: resumable options to give it (a longer length)."""

    run_dir: Path
    changed: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunChecked(Message):
    """A worker checked a plan: it can start."""

    plan: RunPlan


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
    by_group: bool = False  # one row per seed group (runs that differ only in the seed)
