"""Ensemble members and their config: overrides, saved runs as members (target, features,
input scaling, leakage), and the clear errors a user meets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from tests.test_ensemble_helpers import (
    FEATURES,
    TINY_TREES,
    ensemble_config,
    make_context,
    make_parts,
)
from trainer.artifacts import save_run
from trainer.config import validate
from trainer.errors import UserError
from trainer.learners.base import FitContext, NullReporter, SplitData
from trainer.learners.config import (
    EnsembleConfig,
    LSTMConfig,
    MemberConfig,
    XGBoostConfig,
    member_params,
)
from trainer.learners.ensemble import EnsembleLearner, meta_parts
from trainer.learners.ensemble_members import input_map
from trainer.learners.trees import XGBoostLearner

# ---- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "use", "match"),
    [
        ([], "", r"model\.members: empty"),
        ([MemberConfig("a", model="xgboost"), MemberConfig("a", model="lightgbm")], "", "unique"),
        ([MemberConfig("a", model="xgboost", path="x")], "", "exactly one of 'model' or 'path'"),
        ([MemberConfig("a")], "", "exactly one of 'model' or 'path'"),
        ([MemberConfig("a", model="ensemble")], "", r"model\.members\[0\]\.model='ensemble'"),
        ([MemberConfig("a/b", model="xgboost")], "", r"name='a/b'"),
        ([MemberConfig("a", path="x", overrides={"k": "1"})], "", "'overrides' apply to 'model'"),
        (
            [MemberConfig("a", model="xgboost", overrides={"max_depth": "x"})],
            "",
            r"\(a\) overrides",
        ),
        (
            [MemberConfig("a", model="xgboost")],
            "a+nope",
            r"model\.use='a\+nope': no member named nope",
        ),
    ],
)
def test_bad_ensemble_config_is_a_clear_error(
    members: list[MemberConfig], use: str, match: str
) -> None:
    with pytest.raises(UserError, match=match):
        EnsembleConfig(members=members, use=use)


def test_member_overrides_parse_like_a_command_line() -> None:
    member = MemberConfig(
        "seq",
        model="lstm",
        overrides={"max_epochs": "2", "dropout": "0.2", "max_batches_per_epoch": "null"},
    )
    params = member_params(member)
    assert isinstance(params, LSTMConfig)
    assert (params.max_epochs, params.dropout, params.max_batches_per_epoch) == (2, 0.2, None)
    assert params.hidden_dim == LSTMConfig().hidden_dim  # the rest: the family's defaults


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"max_dept": "5"}, r"\(x\) overrides: max_dept"),
        ({"max_depth": "deep"}, r"\(x\) overrides: max_depth.*'deep'"),
        ({"subsample": "1.5"}, r"\(x\) overrides: model\.subsample=1\.5: must be in"),
        ({"name": "lightgbm"}, r"'name' is fixed by model=xgboost"),
    ],
)
def test_bad_member_overrides_name_the_member_and_key(
    overrides: dict[str, str], match: str
) -> None:
    with pytest.raises(UserError, match=match):
        member_params(MemberConfig("x", model="xgboost", overrides=overrides))


def test_the_ensemble_config_group_composes_with_valid_members(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    conf = validate(compose_cfg("model=ensemble", tiny=False))
    assert isinstance(conf.model, EnsembleConfig)
    assert conf.model.used_names() == ["xgb", "lstm"]
    assert [m.model for m in conf.model.used_members()] == ["xgboost", "lstm"]
    for member in conf.model.members:  # every member of the pool has valid overrides
        member_params(member)
    swept = validate(
        compose_cfg("model=ensemble", "model.method=blending", "model.use=xgb+lgbm", tiny=False)
    )
    assert isinstance(swept.model, EnsembleConfig)
    assert (swept.model.method, swept.model.used_names()) == ("blending", ["xgb", "lgbm"])


def test_an_out_of_range_ensemble_key_fails_at_validation(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    with pytest.raises(UserError, match=r"model\.meta_fraction=0\.9"):
        validate(compose_cfg("model=ensemble", "model.meta_fraction=0.9", tiny=False))


# ---- saved runs as members ------------------------------------------------------------------


def saved_member(
    root: Path,
    train: SplitData,
    *,
    features: tuple[str, ...] = FEATURES,
    mean: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    task: str = "direction",
    horizon: str = "1h",
    trained_until: np.datetime64 | None = None,
) -> Path:
    """A run directory holding an XGBoost model trained on ``features`` scaled by its own
    (mean, scale), as ``python -m trainer`` leaves it. ``train.X`` is raw features here."""
    mean = np.zeros(len(features)) if mean is None else mean
    scale = np.ones(len(features)) if scale is None else scale
    cols = [FEATURES.index(f) for f in features]
    X = ((train.X[:, cols] - mean) / scale).astype(np.float32)
    own = SplitData(X, train.y, train.returns, train.timestamps, train.segment)
    ctx = FitContext(task=task, seed=0, threads=1)
    learner = XGBoostLearner(XGBoostConfig(n_estimators=20, early_stopping_rounds=0), ctx)
    learner.fit(own, own, NullReporter())
    until = train.timestamps[-1] if trained_until is None else trained_until
    metadata = {
        "model": "xgboost",
        "target": {"horizon": horizon, "task": task},
        "feature_names": list(features),
        "scaler": {"mean": mean.tolist(), "scale": scale.tolist()},
        "threshold": 0.5,
        "split": {"bounds": {"train": [str(train.timestamps[0]) + "Z", str(until) + "Z"]}},
    }
    save_run(root, learner, "xgboost", metadata, {})
    (root / ".hydra").mkdir()
    (root / ".hydra" / "config.yaml").write_text("model:\n  name: xgboost\n")
    return root


def with_path_member(path: Path, task: str = "direction") -> EnsembleConfig:
    return ensemble_config(
        [
            MemberConfig("xgb", model="xgboost", overrides=TINY_TREES),
            MemberConfig("saved", path=str(path)),
        ]
    )


def early_rows(train: SplitData, n: int = 600) -> SplitData:
    return train.subset(slice(0, n))


def test_a_saved_run_joins_as_a_member_and_round_trips(tmp_path: Path) -> None:
    train, valid, test = make_parts()
    path = saved_member(tmp_path / "run", early_rows(train))
    learner = EnsembleLearner(with_path_member(path), make_context())
    learner.fit(train, valid, NullReporter())
    _, part_b = meta_parts(train, 0.25, 1)
    assert learner.summary()["meta_rows"]["n"] == len(part_b)
    learner.save(tmp_path / "ens")
    loaded = EnsembleLearner.load(tmp_path / "ens")
    np.testing.assert_array_equal(loaded.predict(test), learner.predict(test))


def test_input_map_rescales_this_runs_features_to_the_members_own() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(3.0, 2.0, size=(50, len(FEATURES)))
    run_mean, run_scale = raw.mean(0), raw.std(0)
    member_features = ["f3", "f0"]  # a reordered subset
    m_mean, m_scale = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    mapping = input_map(FEATURES, run_mean, run_scale, member_features, m_mean, m_scale)
    run_X = ((raw - run_mean) / run_scale).astype(np.float32)
    part = SplitData(
        run_X, np.zeros(50), np.zeros(50), np.zeros(50, "datetime64[ns]"), np.zeros(50)
    )
    expected = (raw[:, [3, 0]] - m_mean) / m_scale
    np.testing.assert_allclose(mapping.apply(part).X, expected, rtol=1e-5, atol=1e-5)


def test_a_member_trained_on_the_combiners_rows_is_refused(tmp_path: Path) -> None:
    train, valid, _ = make_parts()
    path = saved_member(tmp_path / "run", train)  # trained on all of this run's train part
    learner = EnsembleLearner(with_path_member(path), make_context())
    with pytest.raises(UserError, match=r"\(saved\) path=.*in-sample.*earlier period"):
        learner.fit(train, valid, NullReporter())


def test_the_combiner_skips_rows_a_saved_member_has_seen(tmp_path: Path) -> None:
    train, valid, _ = make_parts()
    _, part_b = meta_parts(train, 0.25, 1)
    until = part_b.timestamps[199]
    path = saved_member(tmp_path / "run", early_rows(train), trained_until=until)
    learner = EnsembleLearner(with_path_member(path), make_context())
    learner.fit(train, valid, NullReporter())
    first, _, n = learner.summary()["meta_rows"].values()
    assert np.datetime64(first) == until + np.timedelta64(2, "h")  # one hour of embargo
    assert n == len(part_b) - 201


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ({"horizon": "4h"}, r"target\.horizon=4h; this run is .*target\.horizon=1h"),
        ({"task": "regression"}, r"target\.task=regression.*this run is target\.task=direction"),
    ],
)
def test_a_member_for_another_target_is_refused(
    tmp_path: Path, target: dict[str, str], match: str
) -> None:
    train, valid, _ = make_parts()
    task, horizon = target.get("task", "direction"), target.get("horizon", "1h")
    path = saved_member(tmp_path / "run", early_rows(train), task=task, horizon=horizon)
    learner = EnsembleLearner(with_path_member(path), make_context())
    with pytest.raises(UserError, match=match):
        learner.fit(train, valid, NullReporter())


def test_a_member_needing_features_this_run_lacks_is_refused(tmp_path: Path) -> None:
    train, valid, _ = make_parts()
    path = saved_member(tmp_path / "run", early_rows(train), features=("f0", "f1"))
    meta = path / "metadata.json"  # as if trained on data with a column "g9" instead of f1
    meta.write_text(meta.read_text().replace('"f1"', '"g9"'))
    learner = EnsembleLearner(with_path_member(path), make_context())
    with pytest.raises(UserError, match=r"1 of its features are not in this run's data \(g9\)"):
        learner.fit(train, valid, NullReporter())


def test_a_member_path_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    train, valid, _ = make_parts()
    learner = EnsembleLearner(with_path_member(tmp_path / "nowhere"), make_context())
    with pytest.raises(UserError, match=r"path=.*nowhere: no such run directory"):
        learner.fit(train, valid, NullReporter())
