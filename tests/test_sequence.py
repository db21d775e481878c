"""LSTM and Transformer learners on small synthetic parts: the Learner contract, windows,
early stopping and pruning, determinism, and safe save/load."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from omegaconf import DictConfig

from tests.conftest import RecordingReporter
from trainer.config import validate
from trainer.errors import UserError
from trainer.learners import build_learner, load_learner, save_learner
from trainer.learners.base import FitContext, Learner, NullReporter, SplitData
from trainer.learners.config import LSTMConfig, SequenceConfig, TransformerConfig
from trainer.learners.sequence import LSTMLearner, TransformerLearner, feature_stats

L = 8
N_FEATURES = 5


def _parts(task: str = "direction", seed: int = 0) -> tuple[SplitData, SplitData, SplitData]:
    """600 hourly rows with a gap at row 150 (train), cut 360/120/120 like a holdout."""
    rng = np.random.default_rng(seed)
    n = 600
    X = rng.standard_normal((n, N_FEATURES)).astype(np.float32)
    ret = 0.004 * X[:, 0] + 0.01 * rng.standard_normal(n)
    y = (ret > 0).astype(np.float64) if task == "direction" else ret
    ts = (np.datetime64("2024-01-01T00", "h") + np.arange(n)).astype("datetime64[ns]")
    segment = np.zeros(n, dtype=np.int64)
    segment[150:] = 1  # a data gap: no window may span rows 149-150

    def part(s: slice) -> SplitData:
        return SplitData(X[s], y[s], ret[s], ts[s], segment[s])

    return part(slice(0, 360)), part(slice(360, 480)), part(slice(480, 600))


def _params(name: str, **kw: Any) -> SequenceConfig:
    common: dict[str, Any] = {"sequence_len": L, "max_epochs": 2, "batch_size": 64, **kw}
    if name == "lstm":
        return LSTMConfig(hidden_dim=8, num_layers=2, **common)
    return TransformerConfig(d_model=8, num_heads=2, num_layers=2, feedforward_dim=16, **common)


def _context(task: str = "direction", seed: int = 0, **kw: Any) -> FitContext:
    return FitContext(task=task, seed=seed, threads=1, **kw)


def _fit(name: str, task: str = "direction", seed: int = 0, **kw: Any) -> Learner:
    train, valid, _ = _parts(task)
    learner = build_learner(_params(name, **kw), _context(task, seed))
    return learner.fit(train, valid, NullReporter())


MODELS = ["lstm", "transformer"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("task", ["direction", "regression"])
def test_fit_returns_self_and_predicts_one_score_per_row(name: str, task: str) -> None:
    train, valid, test = _parts(task)
    learner = build_learner(_params(name), _context(task))
    assert learner.fit(train, valid, NullReporter()) is learner
    scores = learner.predict(test)
    assert scores.shape == (len(test),) and scores.dtype == np.float64
    # NaN exactly where fewer than L consecutive hours precede the row
    assert np.isnan(scores[: L - 1]).all() and np.isfinite(scores[L - 1 :]).all()
    if task == "direction":
        assert ((scores[L - 1 :] > 0) & (scores[L - 1 :] < 1)).all()
    else:  # predicted log returns, in the units of the target
        assert abs(np.nanmean(scores) - train.y.mean()) < 3 * train.y.std()


def test_no_prediction_for_a_window_spanning_a_gap() -> None:
    train, _, _ = _parts()
    scores = _fit("lstm").predict(train)
    nan_rows = np.flatnonzero(np.isnan(scores)).tolist()
    assert nan_rows == [*range(L - 1), *range(150, 150 + L - 1)]


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_predictions_other_seed_differs(name: str) -> None:
    _, _, test = _parts()
    a = _fit(name, seed=3).predict(test)
    b = _fit(name, seed=3).predict(test)
    c = _fit(name, seed=4).predict(test)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[L:], c[L:])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("input_norm", ["zscore", "layernorm"])
def test_a_saved_learner_loads_back_and_predicts_identically(
    tmp_path: Path, name: str, input_norm: str
) -> None:
    _, _, test = _parts("regression")
    learner = _fit(name, task="regression", input_norm=input_norm)
    save_learner(learner, name, tmp_path)
    loaded = load_learner(tmp_path)
    assert type(loaded) is type(learner) and loaded.task == "regression"
    np.testing.assert_array_equal(loaded.predict(test), learner.predict(test))
    meta = json.loads((tmp_path / "sequence.json").read_text())
    assert meta["params"]["sequence_len"] == L and meta["seeds"]["torch"] == 0
    assert (meta["input_stats"] is None) == (input_norm == "layernorm")


def test_zscore_statistics_come_from_the_training_part() -> None:
    train, _, _ = _parts()
    learner = _fit("lstm")
    assert isinstance(learner, LSTMLearner) and learner.input_stats_ is not None
    np.testing.assert_allclose(learner.input_stats_[0], train.X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(learner.input_stats_[1], train.X.std(axis=0), rtol=1e-5)


def test_feature_stats_by_chunks_match_numpy() -> None:
    X = np.random.default_rng(1).standard_normal((103, 4)).astype(np.float32) * 3 + 1
    X[:, 2] = 5.0  # a constant column gets std 1, not 0
    mean, std = feature_stats(X, chunk=7)
    np.testing.assert_allclose(mean, X.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std[[0, 1, 3]], X.astype(np.float64).std(axis=0)[[0, 1, 3]])
    assert std[2] == 1.0


@pytest.mark.parametrize("name", MODELS)
def test_each_epoch_reports_the_validation_objective(name: str) -> None:
    train, valid, _ = _parts()
    seen: list[int] = []

    def score(scores: np.ndarray, split: SplitData) -> float:
        assert split is valid and scores.shape == (len(valid),)
        seen.append(1)
        return float(len(seen))  # improves every epoch: no early stop

    reporter = RecordingReporter()
    learner = build_learner(_params(name, max_epochs=3), _context(score=score))
    learner.fit(train, valid, reporter)
    assert reporter.values == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_early_stopping_keeps_the_best_epochs_weights() -> None:
    train, valid, test = _parts()
    values = iter([0.5, 0.4, 0.3, 0.2])
    ctx = _context(score=lambda s, split: next(values))
    stopped = LSTMLearner(_params("lstm", max_epochs=4, patience=2), ctx)  # type: ignore[arg-type]
    stopped.fit(train, valid, NullReporter())
    assert len(stopped.history_) == 3 and stopped.best_epoch_ == 1  # epochs 2, 3 no better
    one_epoch = LSTMLearner(_params("lstm", max_epochs=1), _context())  # type: ignore[arg-type]
    one_epoch.fit(train, valid, NullReporter())
    np.testing.assert_array_equal(stopped.predict(test), one_epoch.predict(test))


def test_a_pruned_trial_stops_at_once() -> None:
    class PruneAtTwo(RecordingReporter):
        def report(self, value: float, step: int) -> None:
            super().report(value, step)
            if step == 2:
                raise optuna.TrialPruned()

    train, valid, _ = _parts()
    reporter = PruneAtTwo()
    learner = build_learner(_params("transformer", max_epochs=5), _context())
    with pytest.raises(optuna.TrialPruned):
        learner.fit(train, valid, reporter)
    assert [step for step, _ in reporter.values] == [1, 2]


def test_stride_and_batch_cap_shrink_an_epoch() -> None:
    full = _fit("lstm", batch_size=16)
    thinned = _fit("lstm", batch_size=16, train_stride=4, max_batches_per_epoch=3)
    assert isinstance(full, LSTMLearner) and isinstance(thinned, LSTMLearner)
    n_windows = 360 - 2 * (L - 1)  # two runs of consecutive hours in train
    assert full.n_train_windows_ == n_windows
    assert full.batches_per_epoch_ == -(-n_windows // 16)
    assert thinned.n_train_windows_ == -(-n_windows // 4)
    assert thinned.batches_per_epoch_ == 3


def test_a_window_longer_than_the_data_is_a_clear_error() -> None:
    train, valid, _ = _parts()
    learner = build_learner(_params("lstm", sequence_len=300), _context())
    with pytest.raises(UserError, match=r"model.sequence_len=300.*longest is 210"):
        learner.fit(train, valid, NullReporter())


def test_a_head_count_that_does_not_divide_d_model_fails_at_config(
    compose_cfg: Callable[..., DictConfig],
) -> None:
    with pytest.raises(UserError, match=r"model.num_heads=3 does not divide model.d_model=128"):
        validate(compose_cfg("model=transformer", "model.num_heads=3", tiny=False))


@pytest.mark.parametrize("name", MODELS)
def test_model_configs_compose_with_the_plans_defaults(
    compose_cfg: Callable[..., DictConfig], name: str
) -> None:
    model = validate(compose_cfg(f"model={name}", tiny=False)).model
    assert isinstance(model, SequenceConfig) and model.family == "sequence"
    assert 32 <= model.sequence_len <= 64


def test_tampered_or_missing_files_fail_to_load_with_the_file_named(tmp_path: Path) -> None:
    save_learner(_fit("lstm"), "lstm", tmp_path)
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match=r"weights\.safetensors"):
        load_learner(tmp_path)
    (tmp_path / "sequence.json").unlink()
    with pytest.raises(UserError, match=r"sequence\.json"):
        load_learner(tmp_path)


def test_a_transformer_directory_does_not_load_as_an_lstm(tmp_path: Path) -> None:
    save_learner(_fit("transformer"), "transformer", tmp_path)
    with pytest.raises(UserError, match="'transformer' model, not 'lstm'"):
        LSTMLearner.load(tmp_path)
    assert isinstance(TransformerLearner.load(tmp_path), TransformerLearner)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("task", ["direction", "regression"])
def test_micro_batches_take_the_same_steps_as_whole_batches(name: str, task: str) -> None:
    # dropout 0: otherwise each micro-batch draws its own masks; 24 does not divide 64, so the
    # uneven last micro-batch checks that each loss is weighted by its share of the batch
    _, _, test = _parts(task)
    whole = _fit(name, task, dropout=0.0)
    micro = _fit(name, task, dropout=0.0, micro_batch_size=24)
    assert isinstance(whole, LSTMLearner | TransformerLearner)
    assert isinstance(micro, LSTMLearner | TransformerLearner)
    for a, b in zip(whole.history_, micro.history_, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    np.testing.assert_allclose(micro.predict(test), whole.predict(test), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_micro_batched_runs_repeat_bit_for_bit(name: str) -> None:
    _, _, test = _parts()
    a = _fit(name, seed=5, micro_batch_size=16).predict(test)
    b = _fit(name, seed=5, micro_batch_size=16).predict(test)
    np.testing.assert_array_equal(a, b)


def test_no_forward_pass_sees_more_windows_than_the_micro_batch() -> None:
    train, valid, test = _parts()
    learner = LSTMLearner(_params("lstm", micro_batch_size=10), _context())  # type: ignore[arg-type]
    sizes: list[int] = []
    original = LSTMLearner._network

    def network(self: LSTMLearner, n_features: int) -> Any:
        net = original(self, n_features)
        net.register_forward_hook(lambda _m, args, _out: sizes.append(args[0].shape[0]))
        return net

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LSTMLearner, "_network", network)
        learner.fit(train, valid, NullReporter())
    learner.predict(test)
    assert max(sizes) == 10 and len(sizes) > learner.batches_per_epoch_ * 2


def test_a_negative_micro_batch_size_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"model.micro_batch_size=-1: must be in \[0, 65536\]"):
        _params("lstm", micro_batch_size=-1)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("best_epoch", [1, 3])
def test_predicting_the_validation_part_reuses_the_best_epochs_pass_bit_for_bit(
    name: str, best_epoch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After fit, scoring the validation part again (the trainer does, to calibrate) is a whole
    # pass the best epoch already made with the weights fit restores: reused, never different.
    train, valid, _ = _parts()
    arrays = (valid.X, valid.y, valid.returns, valid.timestamps, valid.segment)
    for a in arrays:
        a.flags.writeable = False  # as prepared parts are
    values = iter([0.5, 0.4, 0.3] if best_epoch == 1 else [0.1, 0.2, 0.3])
    ctx = _context(score=lambda s, split: next(values))
    learner = build_learner(_params(name, max_epochs=3, patience=5), ctx)
    learner.fit(train, valid, NullReporter())
    assert learner.best_epoch_ == best_epoch  # type: ignore[attr-defined]
    passes = []
    outputs = learner._outputs  # type: ignore[attr-defined]
    monkeypatch.setattr(learner, "_outputs", lambda *a: passes.append(1) or outputs(*a))
    reused = learner.predict(valid)
    assert passes == []
    copy = SplitData(*(np.array(a) for a in arrays))  # another array: computed
    np.testing.assert_array_equal(reused, learner.predict(copy))
    assert passes == [1]
