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


def in_range(key: str, value: float, low: float, high: float) -> None:
    finite(key, value)
    if not low <= value <= high:
        raise UserError(f"{key}={value}: must be in [{low:g}, {high:g}]")


# One seed range for runs, sweeps and the synthetic market: what numpy, XGBoost, LightGBM,
# scikit-learn and torch all take unchanged, so metadata records the seed that was used.
SEED_MAX = 2**32 - 1


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
