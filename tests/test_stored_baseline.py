"""A stored baseline is checked before the walk-forward: a report, of this market and period."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.baseline import check_stored_baseline, read_stored_baseline
from trainer.errors import UserError

HOURS = 2000
STAMPS = pd.date_range("2024-01-01", periods=HOURS, freq="h").to_numpy(dtype="datetime64[ns]")
RETURNS = 0.004 * np.random.default_rng(0).standard_normal(HOURS)


def _series(
    stamps: np.ndarray = STAMPS, returns: np.ndarray = RETURNS, drop: str | None = None
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"timestamp": stamps, "fold": 0, "log_ret_1h": returns, "target_position": 1.0}
    )
    return frame.drop(columns=[drop]) if drop else frame


def _shifted(hours: int) -> pd.DataFrame:
    return _series(STAMPS + np.timedelta64(hours, "h"), np.roll(RETURNS, -hours))


def _revised(share: float) -> pd.DataFrame:
    returns = RETURNS.copy()
    returns[: int(share * HOURS)] += 0.01
    return _series(returns=returns)


Write = Callable[[Path], None]


def _parquet(frame: pd.DataFrame) -> Write:
    def write(d: Path) -> None:
        d.mkdir()
        frame.to_parquet(d / "series.parquet", index=False)

    return write


def _bytes(data: bytes) -> Write:
    def write(d: Path) -> None:
        d.mkdir()
        (d / "series.parquet").write_bytes(data)

    return write


# (case, what the directory holds, the message expected; None: accepted)
CASES: list[tuple[str, Write | None, str | None]] = [
    ("the same market and period", _parquet(_series()), None),
    ("a later report covering 60%", _parquet(_shifted(800)), None),
    ("revised bars on 0.5% of the hours", _parquet(_revised(0.005)), None),
    ("no such directory", None, "no series.parquet"),
    ("a directory that is not a report", lambda d: d.mkdir(), "no series.parquet"),
    ("a damaged series", _bytes(b"PAR1 not really"), "is not readable"),
    ("a series without returns", _parquet(_series(drop="log_ret_1h")), "no column log_ret_1h"),
    ("another period", _parquet(_shifted(5000)), "another period: it covers 2024-07-27"),
    ("a period covering 30%", _parquet(_shifted(1400)), "30% of the 2000 hours"),
    ("another market", _parquet(_series(returns=RETURNS * 2)), "another market: its hourly"),
    ("another bar size", _parquet(_series(returns=np.roll(RETURNS, 1))), "another market"),
]


@pytest.mark.parametrize(("case", "write", "expect"), CASES, ids=[c[0] for c in CASES])
def test_a_stored_baseline_of_another_market_or_period_is_refused_with_the_reason(
    tmp_path: Path, case: str, write: Write | None, expect: str | None
) -> None:
    report = tmp_path / "report"
    if write is not None:
        write(report)
    if expect is None:
        check_stored_baseline(str(report), read_stored_baseline(str(report)), STAMPS, RETURNS)
        return
    with pytest.raises(UserError) as err:
        frame = read_stored_baseline(str(report))
        check_stored_baseline(str(report), frame, STAMPS, RETURNS)
    message = str(err.value)
    assert message.startswith(f"backtest.baseline={report}: ") and expect in message
    assert "\n" not in message
