"""What a run ran on — versions, the source checkout's commit, the machine, the command
line — kept in RUN/provenance.json, one session per start (a resume adds one).

Two runs that differ only because torch changed look identical in their numbers; this
file is what tells them apart. It holds no host or user names: the command line's home
folder is written as `~`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from charlm_tui.core.files import atomic_write_text
from charlm_tui.core.runs.records import dump_json, read_json
from charlm_tui.core.runs.rundir import PROVENANCE

MAX_SESSIONS = 1000  # a run resumed more often than this keeps its first and latest
GIT_TIMEOUT_S = 5.0


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def source_checkout() -> Path | None:
    """The git checkout this code runs from (an editable install), if it is one."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".git").exists() else None


def git_state(root: Path) -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it; {} if git cannot say."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": commit, "dirty": dirty}


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def command_line(argv: list[str]) -> str:
    """The command as typed, its home folder as `~` (a path there names the user)."""
    home = str(Path.home()).rstrip("/")
    if not home:
        return " ".join(argv)
    # The home folder itself or a path under it, not a longer name (/home/al in /home/alice).
    at_home = re.compile(re.escape(home) + r"(?=/|$)")
    return " ".join(at_home.sub("~", a, count=1) for a in argv)


def program(argv0: str) -> str:
    """charlm-tui, however it was started (`python -m charlm_tui`, the dashboard's child)."""
    name = Path(argv0).name
    return "charlm-tui" if name in ("__main__.py", "charlm-tui") else name


def gather(
    device: Any, threads: int, world_size: int, command: tuple[str, ...] = ()
) -> dict[str, Any]:
    """This process's session: what it runs on and how it was started (device: a
    torch.device; torch is imported here, not by the commands that only read runs)."""
    import torch

    session: dict[str, Any] = {
        "charlm_tui": package_version("charlm-tui"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "textual": package_version("textual"),
        "numpy": package_version("numpy"),
        "os": f"{platform.system()} {platform.machine()}",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "device": str(device),
        "world_size": world_size,
        "command": command_line(list(command) or [program(sys.argv[0]), *sys.argv[1:]]),
        "started": time.time(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        session["gpu"] = props.name
        session["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
    if (root := source_checkout()) is not None:
        session.update(git_state(root))
    return session


def read_provenance(run_dir: Path) -> list[dict[str, Any]]:
    """The run's sessions, oldest first; values that are not plain scalars are dropped
    (a file from someone else), and a file that is not a list of sessions reads as none."""
    data = read_json(run_dir / PROVENANCE, 1 << 22)
    sessions = data.get("sessions") if isinstance(data, dict) else None
    if not isinstance(sessions, list):
        return []
    plain = (str, int, float, bool)
    return [
        {k: v for k, v in s.items() if isinstance(k, str) and isinstance(v, plain)}
        for s in sessions
        if isinstance(s, dict)
    ]


def _write(run_dir: Path, sessions: list[dict[str, Any]]) -> None:
    if len(sessions) > MAX_SESSIONS:
        sessions = [sessions[0], *sessions[-(MAX_SESSIONS - 1) :]]
    text = dump_json({"sessions": sessions}, indent=2, ensure_ascii=True) + "\n"
    atomic_write_text(run_dir / PROVENANCE, text, durable=False)


def record_start(run_dir: Path, session: dict[str, Any]) -> None:
    _write(run_dir, [*read_provenance(run_dir), session])


def record_end(run_dir: Path, reason: str, wall_s: float) -> None:
    """The latest session's end: how it ended and its wall time (pauses and evals too)."""
    sessions = read_provenance(run_dir)
    if sessions:
        sessions[-1].update(ended=reason, wall_s=round(wall_s, 3))
        _write(run_dir, sessions)


# Fields that say where a run ran; the rest (when, how it ended) differ between any two.
COMPARED = (
    "charlm_tui", "commit", "dirty", "python", "torch", "textual", "numpy", "os", "cpu",
    "cores", "threads", "device", "gpu", "gpu_memory_gb", "world_size",
)  # fmt: skip


def differing(sessions: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Of each run's latest session (one per run, in order), the fields whose values
    are not all the same: field -> each run's value (None where it has none)."""
    out = {}
    for name in COMPARED:
        values = [s.get(name) for s in sessions]
        if len({repr(v) for v in values}) > 1:
            out[name] = values
    return out


def describe(session: dict[str, Any]) -> str:
    """One line of what a session ran on, for people: `charlm-tui 0.1.0 (5db6fc9, dirty)
    · torch 2.13.0+cpu · Python 3.11.7 · cpu, 2 threads of 2 cores (AMD EPYC) · 4.1 s`."""
    parts = []
    if session.get("charlm_tui"):
        commit = session.get("commit")
        where = f" ({str(commit)[:7]}{', dirty' if session.get('dirty') else ''})" if commit else ""
        parts.append(f"charlm-tui {session['charlm_tui']}{where}")
    for key, name in (("torch", "torch"), ("python", "Python")):
        if session.get(key):
            parts.append(f"{name} {session[key]}")
    device = str(session.get("device", "?"))
    if session.get("gpu"):
        device += f" ({session['gpu']}, {session.get('gpu_memory_gb', '?')} GB)"
    cpu = f" ({session['cpu']})" if session.get("cpu") else ""
    parts.append(
        f"{device}, {session.get('threads', '?')} threads of {session.get('cores', '?')} cores{cpu}"
    )
    if isinstance(session.get("wall_s"), int | float):
        parts.append(f"{session['wall_s']:.1f} s, {session.get('ended', '?')}")
    return " · ".join(parts)
