"""Writing files so that a crash, a full disk or a reader never sees half of one.

Every file the program replaces (checkpoints, config.json, control.json, rewritten
records, corpus caches) is written to a temporary file beside it, flushed and fsynced,
then renamed over the old one: at any moment the path holds the old whole file or the
new whole file. Temporary files carry a prefix of ours, so cleaning up after a killed
process never touches anybody else's `.something.tmp`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

TEMP_PREFIX = ".charlm-"
TEMP_SUFFIX = ".tmp"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: setting the umask to read it, from a worker thread, would give a
# file another thread creates in that instant the wrong mode.
_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.fsync(fd)
    os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], durable: bool = True) -> None:
    """Call write(f) on a temporary file beside `path`, then rename it over `path`.

    With `durable`, the data and the rename are fsynced (checkpoints, caches); without,
    only atomicity is promised (control.json, written many times a minute).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX
    )
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide runs from other users
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, payload: bytes, durable: bool = True) -> None:
    atomic_write(path, lambda f: f.write(payload), durable)


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8", errors="surrogatepass"), durable)


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files of ours left in `folder` by a killed process."""
    return [
        p for p in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}") if p.is_file() and not p.is_symlink()
    ]
