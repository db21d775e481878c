"""Entrypoint wrapper: every user mistake ends in one line on stderr and exit code 2.

Hydra prints composition errors over several lines with a hint about HYDRA_FULL_ERROR; we let
them propagate instead and say the same thing once, naming the key or option.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, NoReturn

from trainer.errors import UserError

EXIT_USER_ERROR = 2

# How long an idle OpenMP thread (XGBoost, LightGBM, torch on CPU) spins before it sleeps. GNU
# OpenMP's long default spin is right on an idle machine and ruinous when anything else wants
# the cores (two studies side by side, or one beside a busy process); a short spin costs little
# alone (benchmarks/contention.py, docs/performance.md). A user's own setting wins.
OPENMP_SPINCOUNT = "1000"


def process_defaults(env: MutableMapping[str, str]) -> None:
    """Environment defaults of an entrypoint process, set before any library reads them."""
    env.setdefault("HYDRA_FULL_ERROR", "1")
    if "GOMP_SPINCOUNT" not in env and "OMP_WAIT_POLICY" not in env:
        env["GOMP_SPINCOUNT"] = OPENMP_SPINCOUNT


def run_entrypoint(main: Callable[[], Any]) -> None:
    process_defaults(os.environ)  # before the first OpenMP runtime loads, inherited by workers
    from hydra.errors import (
        ConfigCompositionException,
        InstantiationException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import OmegaConfBaseException

    try:
        main()
    except UserError as exc:
        fail(str(exc))
    except InstantiationException as exc:  # a plugin (the sweeper) refused its hydra.* config
        if not isinstance(exc.__cause__, UserError):
            raise
        fail(str(exc.__cause__))
    except MissingConfigException as exc:
        fail(_missing_option(exc))
    except OverrideParseException as exc:
        fail(f"cannot parse the command line ({_first_line(exc)})")
    except (ConfigCompositionException, OmegaConfBaseException) as exc:
        fail(describe_config_error(exc))


def describe_config_error(exc: BaseException) -> str:
    """One line from Hydra's or OmegaConf's multi-line message, naming the key."""
    parts = [_first_line(exc)]
    cause = exc.__cause__
    if cause is not None:
        parts.append(_first_line(cause))
        key = getattr(cause, "full_key", None)
        if key and key not in " ".join(parts):
            parts.append(f"(key: {key})")
    return ": ".join(p.rstrip(".") for p in parts[:2]) + (" " + parts[2] if len(parts) > 2 else "")


def _missing_option(exc: Any) -> str:
    text = str(exc)
    head = _first_line(exc).replace("In 'train': ", "")
    listing = text.split("Config search path")[0].splitlines()[1:]
    options = [line.strip() for line in listing if line.startswith("\t")]
    if options:
        return f"{head}; available options: {', '.join(options)}"
    return head


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def fail(message: str) -> NoReturn:
    """Print one ``error:`` line and exit with the user-error code."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USER_ERROR)
