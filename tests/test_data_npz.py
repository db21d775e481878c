"""Prepared splits: written from any source, read back exactly, trained with the same metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY
from trainer.data.config import FeaturesConfig, NpzDataConfig, SyntheticDataConfig
from trainer.data.npz import MULTI, ONE_HOUR, read_npz, read_table, write_splits
from trainer.dataset import build_table, prepare
from trainer.errors import UserError
from trainer.splits import holdout
from trainer.write_splits import main


@pytest.fixture(scope="module")
def source():
    table = build_table(SyntheticDataConfig(start="2023-01-01", end="2023-04-30"), FeaturesConfig())
    return table, holdout(table.timestamps, (0.7, 0.15, 0.15), 4)


def test_both_files_hold_the_plans_arrays_and_a_sidecar(tmp_path, source):
    table, fold = source
    multi, one = write_splits(tmp_path, table, fold, 4)
    arrays, meta = read_npz(multi)
    for part in ("train", "valid", "test"):
        for key in ("X", "y_ret_1h", "y_dir_1h", "y_ret_4h", "y_dir_4h", "timestamps"):
            assert f"{key}_{part}" in arrays
    assert arrays["feature_names"].tolist() == table.feature_names == meta["feature_names"]
    assert meta["data_hash"] == table.data_hash and meta["source"] == "synthetic"
    assert meta["split"]["embargo_hours"] == 4
    assert len(meta["scaler"]["mean"]) == len(table.feature_names)
    np.testing.assert_array_equal(arrays["X_valid"], table.X[fold.valid])
    arrays1, meta1 = read_npz(one)
    np.testing.assert_array_equal(arrays1["y_test"], table.labels["dir_1h"][fold.test])
    assert meta1["split"]["bounds"] == fold.bounds(table.timestamps)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_reading_back_prepares_exactly_the_same_parts(tmp_path, source):
    table, fold = source
    multi, _ = write_splits(tmp_path, table, fold, 4)
    back = read_table(NpzDataConfig(path=str(multi)))
    for horizon in (1, 4):
        a = prepare(table, fold, horizon, "direction", 1e-12)
        b = prepare(back, back.fixed_split, horizon, "direction", 1e-12)
        assert a.feature_names == b.feature_names
        for part in ("train", "valid", "test"):
            pa, pb = getattr(a, part), getattr(b, part)
            np.testing.assert_array_equal(pa.X, pb.X)
            np.testing.assert_array_equal(pa.y, pb.y)
            np.testing.assert_array_equal(pa.returns, pb.returns)
            np.testing.assert_array_equal(pa.timestamps, pb.timestamps)


def test_labels_longer_than_the_embargo_are_refused(tmp_path, source):
    table, _ = source
    fold = holdout(table.timestamps, (0.7, 0.15, 0.15), 1)
    multi, _ = write_splits(tmp_path, table, fold, 1)
    back = read_table(NpzDataConfig(path=str(multi)))
    assert sorted(back.labels) == ["dir_1h", "ret_1h"]
    with pytest.raises(UserError, match="no leak-free 4h labels"):
        prepare(back, back.fixed_split, 4, "direction", 1e-12)


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.mark.slow  # four trainings; the parts themselves are compared exactly above
@pytest.mark.parametrize("horizon", ["1h", "4h"])
def test_training_from_the_npz_gives_the_same_metrics_as_from_its_source(
    tmp_path, compose_cfg, horizon
):
    from trainer.train import train

    common = [f"target.horizon={horizon}", f"artifacts_dir={tmp_path / 'artifacts'}"]
    train(compose_cfg(*common), tmp_path / "from_table")
    main([*TINY, *common])  # python -m trainer.write_splits <the same overrides>
    npz = tmp_path / "artifacts" / "datasets" / (MULTI if horizon == "4h" else ONE_HOUR)
    not_data = [o for o in TINY if not o.startswith("data.")]
    cfg = compose_cfg(*not_data, *common, "data=npz", f"data.path={npz}", tiny=False)
    train(cfg, tmp_path / "from_npz")
    assert _metrics(tmp_path / "from_npz") == _metrics(tmp_path / "from_table")
