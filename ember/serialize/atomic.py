"""Atomic file replacement: a checkpoint on disk is either the old one or the complete new one, never half.

The bytes go to a temporary file in the destination's directory (same file system, so the rename is atomic),
are flushed and fsynced, and only then ``os.replace`` puts them in place. Any failure before that removes
the temporary file and leaves the destination untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write"]


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself; some platforms (Windows) cannot open a directory, which is not an error."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temporary(directory: str, name: str) -> tuple[int, str]:
    # O_EXCL with a random name instead of tempfile.mkstemp: mkstemp forces mode 0600, while a checkpoint
    # should get the ordinary umask-derived mode that ``open(path, "wb")`` would have given it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file whose contents replace ``path`` atomically when the block ends without an error.

    Raises:
        RuntimeError: the parent directory does not exist (PyTorch's wording).
        IsADirectoryError: ``path`` names a directory.
    """
    path = os.fspath(path)
    if os.path.islink(path):
        # Replace the file the link points to, keeping the link, as writing through it would.
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {directory} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    fd, temporary = _create_temporary(directory, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)
