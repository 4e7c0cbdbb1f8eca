"""Durable file writes: a reader sees the old content or the new, never a part, after a crash.

The recipe (write a temporary file in the same directory, fsync it, rename or link it over the
target, fsync the directory) is what ext4 and f2fs promise to keep across power loss; the
directory fsync makes the rename itself durable. A power cut on an appliance is routine, not
exceptional.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make the entries of `directory` (new names, renames) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory: Path, data: bytes, mode: int) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably. Raises OSError."""
    temp = _write_temp(path.parent, data, mode)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_directory(path.parent)


def write_json_atomic(path: Path, data: object, mode: int = 0o600) -> None:
    """`write_atomic` of `data` as indented UTF-8 JSON (metadata beside recordings and
    messages, manifests). Raises OSError, TypeError for data JSON cannot hold."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), mode)


def create_exclusive(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` with `data` atomically and durably; FileExistsError if it exists.

    A hard link fails when the name is taken, so two writers racing for the same revision
    number cannot overwrite each other. File systems without hard links fall back to an
    existence check and a rename, which is exclusive within one process.
    """
    temp = _write_temp(path.parent, data, mode)
    try:
        try:
            os.link(temp, path)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            if path.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(path)) from exc
            os.rename(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    fsync_directory(path.parent)
