"""Gradient-boosted trees: XGBoost and LightGBM, for direction and regression.

Both stop early on the validation loss and, when a study is listening, report the validation
objective every ``report_every`` rounds so a pruner can stop a weak trial.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from trainer.console import ProgressBar
from trainer.errors import UserError
from trainer.learners.base import FitContext, Reporter, SplitData
from trainer.learners.config import LightGBMConfig, XGBoostConfig
from trainer.learners.library_data import dmatrix, lgb_datasets

PARAMS_FILE = "params.json"


def _read_params(directory: Path) -> dict[str, Any]:
    path = directory / PARAMS_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the model directory is incomplete") from None
    except ValueError:
        raise UserError(f"{path}: not valid JSON (truncated or tampered)") from None
    return data


class XGBoostLearner:
    def __init__(self, params: XGBoostConfig, context: FitContext | None = None) -> None:
        self.params = params
        self.context = context
        self.task = context.task if context else "direction"

    def _booster_params(self) -> dict[str, Any]:
        p, ctx = self.params, self.context
        assert ctx is not None
        return {
            "objective": "binary:logistic" if ctx.task == "direction" else "reg:squarederror",
            "eval_metric": "logloss" if ctx.task == "direction" else "rmse",
            "tree_method": "hist",
            "max_depth": p.max_depth,
            "eta": p.learning_rate,
            "subsample": p.subsample,
            "colsample_bytree": p.colsample_bytree,
            "min_child_weight": p.min_child_weight,
            "lambda": p.reg_lambda,
            "nthread": ctx.threads,
            "seed": ctx.seed,
            "verbosity": 0,
        }

    def fit(self, train: SplitData, valid: SplitData, reporter: Reporter) -> XGBoostLearner:
        import xgboost as xgb

        ctx = self.context
        if ctx is None:
            raise RuntimeError("XGBoostLearner.fit needs a FitContext")
        dtrain = dmatrix(train, ctx.threads)
        dvalid = dmatrix(valid, ctx.threads)
        callbacks: list[Any] = []
        if self.params.early_stopping_rounds:
            callbacks.append(
                xgb.callback.EarlyStopping(rounds=self.params.early_stopping_rounds, save_best=True)
            )
        if reporter.active and ctx.score is not None:
            callbacks.append(
                _xgb_report_callback(dvalid, valid, ctx.score, reporter, self.params.report_every)
            )
        with ProgressBar(self.params.n_estimators, "xgboost rounds", ctx.progress) as bar:
            if ctx.progress:
                callbacks.append(_xgb_progress_callback(bar))
            self.booster_ = xgb.train(
                self._booster_params(),
                dtrain,
                num_boost_round=self.params.n_estimators,
                evals=[(dvalid, "valid")],
                callbacks=callbacks,
                verbose_eval=False,
            )
        self.n_rounds_ = int(self.booster_.num_boosted_rounds())
        return self

    def predict(self, data: SplitData) -> np.ndarray:
        # The fit's thread count: with all cores busy, a default-threaded DMatrix of a few
        # thousand rows waits on every core (and the walk-forward predicts twice per fold).
        threads = self.context.threads if self.context is not None else -1
        return np.asarray(self.booster_.predict(dmatrix(data, threads, label=False)), np.float64)

    def save(self, directory: Path) -> None:
        self.booster_.save_model(str(directory / "model.ubj"))
        meta = {"params": asdict(self.params), "task": self.task, "n_rounds": self.n_rounds_}
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> XGBoostLearner:
        import xgboost as xgb

        meta = _read_params(directory)
        learner = cls(XGBoostConfig(**meta["params"]))
        learner.task = meta["task"]
        booster = xgb.Booster()
        try:
            booster.load_model(str(directory / "model.ubj"))
        except xgb.core.XGBoostError as exc:
            msg = str(exc).splitlines()[0]
            raise UserError(
                f"{directory / 'model.ubj'}: cannot load XGBoost model ({msg})"
            ) from None
        learner.booster_ = booster
        learner.n_rounds_ = int(meta["n_rounds"])
        return learner


def _xgb_report_callback(
    dvalid: Any, valid: SplitData, score: Any, reporter: Reporter, every: int
) -> Any:
    """A TrainingCallback reporting the validation objective every ``every`` rounds."""
    import xgboost as xgb

    class Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            step = epoch + 1
            if step % every == 0:
                scores = model.predict(dvalid, iteration_range=(0, step))
                reporter.report(score(np.asarray(scores, np.float64), valid), step)
            return False

    return Report()


def _xgb_progress_callback(bar: ProgressBar) -> Any:
    import xgboost as xgb

    class Advance(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            bar.advance()
            return False

    return Advance()


class LightGBMLearner:
    def __init__(self, params: LightGBMConfig, context: FitContext | None = None) -> None:
        self.params = params
        self.context = context
        self.task = context.task if context else "direction"

    def _booster_params(self) -> dict[str, Any]:
        p, ctx = self.params, self.context
        assert ctx is not None
        return {
            "objective": "binary" if ctx.task == "direction" else "regression",
            "metric": "binary_logloss" if ctx.task == "direction" else "rmse",
            "num_leaves": p.num_leaves,
            "max_depth": p.max_depth,
            "learning_rate": p.learning_rate,
            "bagging_fraction": p.bagging_fraction,
            "bagging_freq": p.bagging_freq,
            "feature_fraction": p.feature_fraction,
            "min_child_samples": p.min_child_samples,
            "lambda_l2": p.reg_lambda,
            "num_threads": ctx.threads,
            "seed": ctx.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def fit(self, train: SplitData, valid: SplitData, reporter: Reporter) -> LightGBMLearner:
        import lightgbm as lgb

        ctx = self.context
        if ctx is None:
            raise RuntimeError("LightGBMLearner.fit needs a FitContext")
        dtrain, dvalid = lgb_datasets(train, valid, ctx.seed)
        callbacks: list[Any] = []
        if self.params.early_stopping_rounds:
            callbacks.append(lgb.early_stopping(self.params.early_stopping_rounds, verbose=False))
        if reporter.active and ctx.score is not None:
            every, score = self.params.report_every, ctx.score

            def report(env: Any) -> None:
                step = env.iteration + 1
                if step % every == 0:
                    scores = env.model.predict(valid.X, num_iteration=step)
                    reporter.report(score(np.asarray(scores, np.float64), valid), step)

            callbacks.append(report)
        with ProgressBar(self.params.n_estimators, "lightgbm rounds", ctx.progress) as bar:
            if ctx.progress:
                callbacks.append(lambda env: bar.advance())
            self.booster_ = lgb.train(
                self._booster_params(),
                dtrain,
                num_boost_round=self.params.n_estimators,
                valid_sets=[dvalid],
                callbacks=callbacks,
            )
        self.n_rounds_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        return self

    def predict(self, data: SplitData) -> np.ndarray:
        return np.asarray(self.booster_.predict(data.X, num_iteration=self.n_rounds_), np.float64)

    def save(self, directory: Path) -> None:
        self.booster_.save_model(str(directory / "model.txt"), num_iteration=self.n_rounds_)
        meta = {"params": asdict(self.params), "task": self.task, "n_rounds": self.n_rounds_}
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path) -> LightGBMLearner:
        import lightgbm as lgb

        meta = _read_params(directory)
        learner = cls(LightGBMConfig(**meta["params"]))
        learner.task = meta["task"]
        try:
            learner.booster_ = lgb.Booster(model_file=str(directory / "model.txt"))
        except lgb.basic.LightGBMError as exc:
            msg = str(exc).splitlines()[0]
            raise UserError(
                f"{directory / 'model.txt'}: cannot load LightGBM model ({msg})"
            ) from None
        learner.n_rounds_ = int(learner.booster_.current_iteration())
        return learner
