"""The one way files are written: whole or not at all, with the modes of any other new file.

A temporary file beside the target is written, synced and renamed over it, so a reader (or a
crash) never sees half a file. ``tempfile`` creates it 0600; it is given the mode a plain
``open`` would (0666 less the umask) before the rename, so a teammate or a service on a shared
file system can read metadata as it reads the model beside it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` sets it to read it, which
    would race with other threads creating files)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: the classic read-and-restore
    os.umask(mask)
    return mask


def atomic_write(path: Path, content: bytes | str | Callable[[IO[bytes]], None]) -> None:
    """Write ``content`` (bytes, text as UTF-8, or a function writing to a binary file) to
    ``path`` atomically, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content.encode("utf-8") if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
