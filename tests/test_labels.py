"""Labels: forward log returns and direction, NaN past the table's end or across a gap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainer.data.labels import make_labels


def _market(close: list[float], hours: list[int]) -> pd.DataFrame:
    base = pd.Timestamp("2024-01-01", tz="UTC")
    index = pd.DatetimeIndex([base + pd.Timedelta(hours=h) for h in hours], name="timestamp")
    return pd.DataFrame({"close": close}, index=index)


def test_label_is_the_log_return_from_this_close_to_the_close_h_hours_later():
    close = [100.0, 110.0, 99.0, 120.0, 121.0, 90.0]
    labels = make_labels(_market(close, list(range(6))), (1, 4))
    assert list(labels.columns) == ["ret_1h", "dir_1h", "ret_4h", "dir_4h"]
    np.testing.assert_allclose(labels["ret_1h"].iloc[:5], np.diff(np.log(close)))
    np.testing.assert_allclose(labels["ret_4h"].iloc[:2], np.log([121.0 / 100.0, 90.0 / 110.0]))
    assert labels["dir_1h"].iloc[:5].tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert labels["dir_4h"].iloc[:2].tolist() == [1.0, 0.0]


def test_labels_beyond_the_table_are_missing():
    labels = make_labels(_market([1.0, 2.0, 3.0, 4.0, 5.0], list(range(5))), (1, 4))
    assert labels["ret_1h"].isna().tolist() == [False] * 4 + [True]
    assert labels["ret_4h"].isna().tolist() == [False] + [True] * 4
    assert labels["dir_4h"].isna().tolist() == [False] + [True] * 4


def test_a_label_never_spans_a_gap():
    # hours 0..3, then 10..15: the 4h label of hours 0-3 would need hours beyond the gap
    hours = [0, 1, 2, 3, 10, 11, 12, 13, 14, 15]
    labels = make_labels(_market(list(np.arange(1.0, 11.0)), hours), (1, 4))
    assert labels["ret_1h"].isna().tolist() == [False, False, False, True] + [False] * 5 + [True]
    assert labels["ret_4h"].isna().tolist() == [True] * 4 + [False, False] + [True] * 4


def test_flat_hour_is_not_up():
    labels = make_labels(_market([5.0, 5.0, 6.0], [0, 1, 2]), (1,))
    assert labels["dir_1h"].tolist()[:2] == [0.0, 1.0]
