"""Writing files so that a crash, a full disk or a reader never sees half of one.

Every file the program replaces (checkpoints, config.json, control.json, rewritten
records, corpus caches) is written to a temporary file beside it, flushed and fsynced,
then renamed over the old one: at any moment the path holds the old whole file or the
new whole file. Temporary files carry a prefix of ours, so cleaning up after a killed
process never touches anybody else's `.something.tmp`.

A run folder may come from anyone, and a symbolic link in it could point anywhere the
user can write: files appended to or opened in place there (the lock, the records,
train.log) are opened without following a link (`open_nofollow`), and a folder written
into (tb/, generations/) is refused when it is a link (`refuse_link`). A rename replaces
a link itself, never what it points to, so atomic writes need neither.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from charlm_tui.core.errors import CharLMError

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


def link_error(path: Path) -> CharLMError:
    return CharLMError(
        f"{path} is a symbolic link: refusing to write through it (remove the link, or "
        "choose another folder)"
    )


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open that never follows a symbolic link at `path` itself: a link is a one-line
    CharLMError, any other failure the OSError it is."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise link_error(path) from None
        raise


def open_append(path: Path, binary: bool = False) -> IO:
    """A file opened for appending (created if missing), never through a link."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "ab") if binary else os.fdopen(fd, "a", encoding="utf-8")


def refuse_link(path: Path) -> None:
    """A folder to write into must not be a symbolic link (to another run's, say)."""
    if path.is_symlink():
        raise link_error(path)


class Unreadable(OSError):
    """A records path that is not a regular file (a folder, a FIFO, a device)."""


def read_capped(path: Path, limit: int, what: str) -> bytes:
    """A small file from anyone, whole: a one-line CharLMError when it cannot be read,
    is not a regular file (never blocking on a FIFO) or is over `limit` bytes."""
    try:
        with open_regular(path) as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise CharLMError(f"cannot read {path}: {e.strerror or e}") from None
    if len(raw) > limit:
        raise CharLMError(f"{path} is over {limit:,} bytes: not {what}")
    return raw


def open_regular(path: Path) -> IO[bytes]:
    """Open a file for reading without ever blocking: O_NONBLOCK keeps a FIFO from
    waiting for a writer, and anything but a regular file is refused."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Unreadable(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
