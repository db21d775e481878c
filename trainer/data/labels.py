"""Labels: forward log returns of close and their direction, per horizon.

Called by ``trainer.dataset.build_table``. Pure: the market table in, a new frame out. The label
of row t is the return from the close of bar t to the close of bar t+h, so it is known only h
hours later; a label whose end lies beyond the table or across a gap is NaN (the row is dropped).
On a market that closes (``data.calendar``), ``h`` counts open hours: the 4h label of Friday
20:00 on ``fx`` ends at the close of Monday 00:00, across the weekend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trainer.data.calendar import Calendar, calendar_of
from trainer.data.gaps import segments


def make_labels(
    market: pd.DataFrame, horizons: Sequence[int] = (1, 4), calendar: Calendar | None = None
) -> pd.DataFrame:
    """Columns ``ret_<h>h`` (log return t -> t+h), ``dir_<h>h`` (1.0 up, 0.0 not, NaN unknown).

    ``calendar``: whose open hours the rows are (None: the one the table was loaded with).
    """
    logc = np.log(market["close"].to_numpy(dtype=np.float64))
    calendar = calendar_of(market) if calendar is None else calendar
    seg = segments(pd.DatetimeIndex(market.index), calendar)
    n = len(logc)
    out: dict[str, np.ndarray] = {}
    for h in horizons:
        if h < 1:
            raise ValueError(f"label horizon {h}: must be >= 1 hour")
        ret = np.full(n, np.nan)
        if n > h:
            same = seg[h:] == seg[:-h]  # within a segment, rows are consecutive open hours
            ret[:-h] = np.where(same, logc[h:] - logc[:-h], np.nan)
        out[f"ret_{h}h"] = ret
        out[f"dir_{h}h"] = np.where(np.isnan(ret), np.nan, (ret > 0).astype(np.float64))
    return pd.DataFrame(out, index=market.index)
