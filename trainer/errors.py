"""The one exception type for mistakes a user can fix, and the small checks that raise it.

Entrypoints print a ``UserError`` on one line (exit code 2). The checks here are the rules
every schema applies before any work starts (see docs/troubleshooting.md).
"""

from __future__ import annotations

import math
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
