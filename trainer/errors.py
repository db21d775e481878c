"""The one exception type for mistakes a user can fix, and the small checks that raise it.

Entrypoints print a ``UserError`` on one line (exit code 2). The checks here are the rules
every schema applies before any work starts (see docs/troubleshooting.md).
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any


class UserError(ValueError):
    """Bad config, data or artifact, found before (or instead of) doing work.

    The message names the culprit (key, file, column, row) and what is allowed.
    """


class StudyStop(UserError):
    """A trial's error that holds for every later trial of its study: the sweep stops at once."""


def one_of(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserError(f"{key}={value!r}: must be one of {', '.join(allowed)}")


def finite(key: str, value: float) -> None:
    """NaN and inf are never a setting: they make NaN metrics or a silently dead model."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{key}={value}: not a finite number (NaN and inf are refused)")


def at_least(key: str, value: float, low: float) -> None:
    finite(key, value)
    if value < low:
        raise UserError(f"{key}={value}: must be >= {low:g}")


def in_range(key: str, value: float, low: float, high: float, why: str = "") -> None:
    """``why``: for a bound on memory or time, what grows with the value."""
    finite(key, value)
    if not low <= value <= high:
        reason = f" ({why})" if why else ""
        raise UserError(f"{key}={value}: must be in [{low:g}, {high:g}]{reason}")


def at_most(key: str, value: float, high: float, why: str) -> None:
    """An upper bound on a key that sets memory or time, with what grows with it."""
    finite(key, value)
    if value > high:
        raise UserError(f"{key}={value}: must be <= {high:g} ({why})")


# One seed range for runs, sweeps and the synthetic market: what numpy, XGBoost, LightGBM,
# scikit-learn and torch all take unchanged, so metadata records the seed that was used.
SEED_MAX = 2**32 - 1


# Bounds shared by several schemas, each with what grows with the value.
ROUNDS_WHY = "boosting rounds or epochs: time grows with each; early stopping ends sooner"
BATCH_WHY = "windows held at once: activation memory grows with batch_size x sequence_len"
WINDOW_WHY = "hours of history a value needs: a longer window leaves fewer usable rows"
MAX_ROUNDS = 100_000
MAX_BATCH = 65_536
MAX_WINDOW_HOURS = 8_760  # a year of hours
MAX_PROCESSES = 256
MAX_THREADS = 1_024


def check_seed(key: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise UserError(
            f"{key}={value}: a seed must be an integer in [0, {SEED_MAX}] (2**32-1),"
            " the range every library takes unchanged"
        )


# A name that becomes a directory (a study, a report): never '.', '..', hidden or a path.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,+=@-]{0,199}")
PATH_MAX = 4096  # bytes, Linux's limit on a whole path
NAME_MAX = 255  # bytes, most file systems' limit on one component


def shown(value: str, limit: int = 120) -> str:
    """A value short enough for a one-line message."""
    return value if len(value) <= limit else f"{value[:60]}...{value[-40:]} ({len(value)} chars)"


def plain_name(key: str, value: str) -> None:
    if not PLAIN_NAME.fullmatch(value):
        raise UserError(
            f"{key}={shown(value)!r}: must be a plain name (letters, digits, _ . , + = @ -; not"
            " starting with '.' or '-'; at most 200 characters): it names a directory"
        )


def path_text(key: str, value: str) -> None:
    """A path that the operating system can take at all (checked without touching it)."""
    if not value.strip():
        raise UserError(f"{key}={value!r}: empty; name a path ('.' for here)")
    if "\0" in value:
        raise UserError(f"{key}={shown(value)!r}: a path cannot hold a NUL character")
    if len(value.encode()) >= PATH_MAX:
        raise UserError(f"{key}={shown(value)}: longer than a path may be ({PATH_MAX} bytes)")
    long = next((part for part in value.split("/") if len(part.encode()) > NAME_MAX), None)
    if long is not None:
        raise UserError(
            f"{key}={shown(value)}: the part {shown(long, 40)!r} is longer than a file name may"
            f" be ({NAME_MAX} bytes)"
        )


def writable_dir(key: str, value: str) -> None:
    """A directory that exists or can be made, and where files can be written; leaves nothing.

    Found from the nearest existing ancestor: a file there is in the way; otherwise an
    anonymous temporary file is created and dropped to prove writes work (permissions, a
    read-only file system, a full disk of inodes).
    """
    path_text(key, value)
    path = Path(value).absolute()
    for place in (path, *path.parents):
        if not place.exists():
            continue
        if not place.is_dir():
            raise UserError(f"{key}={shown(value)}: {place} is a file, not a directory")
        try:
            with tempfile.TemporaryFile(dir=place):
                pass
        except OSError as exc:
            raise UserError(
                f"{key}={shown(value)}: cannot write in {place} ({exc.strerror or exc})"
            ) from None
        return


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{dotted.key: leaf}``; lists and scalars are leaves (a config's keys as
    a study fingerprint's differences and as tracking params name them)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_finite(data: Any, prefix: str = "") -> None:
    """Refuse the first NaN or inf float anywhere in nested dicts and lists, naming its key.

    Run over a whole composed config before its schemas' own checks, so every float key of
    every schema (and of free-form mappings such as ``pruner_kwargs``) follows one rule.
    """
    if isinstance(data, dict):
        for k, v in data.items():
            check_finite(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list | tuple):
        for i, v in enumerate(data):
            check_finite(v, f"{prefix}[{i}]")
    else:
        finite(prefix, data)
