"""How an ensemble turns its members' scores into one: a meta-learner or blending weights.

Used by ``trainer.learners.ensemble`` (``python -m trainer model=ensemble``), which fits a
combiner on out-of-sample member scores only. Every function takes arrays and returns a
``Combiner``; a combiner is saved as JSON (coefficients, weights, input statistics) and, for
the tree meta-learner, LightGBM's text format beside it. Nothing is pickled.

Inputs are member scores ``S``, (n_rows, n_members), all finite: P(up) for direction, the
predicted log return for regression.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import UserError

COMBINER_FILE = "combiner.json"
TREE_FILE = "combiner.txt"
PROB_EPS = 1e-6  # P(up) is clipped into [eps, 1 - eps] before taking logits
# The tree meta-learner is deliberately small: a few thousand rows and 2-4 inputs do not
# support more than shallow interactions, and a big model would just memorise train's tail.
TREE_META_ROUNDS = 100
TREE_META_PARAMS = {
    "num_leaves": 4,
    "learning_rate": 0.05,
    "min_data_in_leaf": 100,
    "lambda_l2": 1.0,
}


@dataclass(frozen=True)
class Combiner:
    """A fitted combiner. ``kind``: logistic | ridge (stacking, linear on z-scored inputs),
    tree (stacking, LightGBM) or blend (non-negative weights summing to 1 on raw scores)."""

    kind: str
    task: str  # direction | regression
    weights: np.ndarray  # (n_members,) coefficients (logistic, ridge) or blending weights
    intercept: float = 0.0
    mean: np.ndarray | None = None  # (n_members,) input statistics of logistic/ridge
    scale: np.ndarray | None = None
    booster: Any = None  # lightgbm.Booster of the tree meta-learner

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """(n, k) member scores -> (n,) combined score (P(up) or a log return)."""
        if self.kind == "blend":
            return np.asarray(scores @ self.weights, np.float64)
        inputs = meta_inputs(scores, self.task)
        if self.kind == "tree":
            return np.asarray(self.booster.predict(inputs), np.float64)
        assert self.mean is not None and self.scale is not None
        linear = ((inputs - self.mean) / self.scale) @ self.weights + self.intercept
        return sigmoid(linear) if self.kind == "logistic" else np.asarray(linear, np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "weights": self.weights.tolist(),
            "intercept": self.intercept,
            "mean": None if self.mean is None else self.mean.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
        }


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), np.float64)


def meta_inputs(scores: np.ndarray, task: str) -> np.ndarray:
    """What a meta-learner sees: logits of P(up) for direction (linear in evidence, so a
    logistic meta-learner adds members' log-odds), the raw predicted return for regression."""
    if task != "direction":
        return np.asarray(scores, np.float64)
    p = np.clip(scores, PROB_EPS, 1.0 - PROB_EPS)
    return np.asarray(np.log(p) - np.log1p(-p), np.float64)


def zscore_stats(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = inputs.std(axis=0)
    return inputs.mean(axis=0), np.where(std > 0, std, 1.0)


def fit_logistic(scores: np.ndarray, y: np.ndarray, c: float, seed: int) -> Combiner:
    """Logistic regression on z-scored member logits, L2 strength 1/c (scikit-learn, lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(y).astype(np.int64)
    if np.unique(labels).size < 2:
        raise UserError(
            "model.meta_learner=logistic: the combiner's rows hold a single class; use more data"
            " or a larger model.meta_fraction"
        )
    inputs = meta_inputs(scores, "direction")
    mean, scale = zscore_stats(inputs)
    model = LogisticRegression(C=c, random_state=seed, max_iter=1000)
    model.fit((inputs - mean) / scale, labels)
    return Combiner(
        "logistic",
        "direction",
        model.coef_[0].astype(np.float64),
        float(model.intercept_[0]),
        mean,
        scale,
    )


def fit_ridge(scores: np.ndarray, y: np.ndarray, c: float) -> Combiner:
    """Ridge regression of the return on z-scored member predictions, penalty 1/c."""
    from sklearn.linear_model import Ridge

    inputs = meta_inputs(scores, "regression")
    mean, scale = zscore_stats(inputs)
    model = Ridge(alpha=1.0 / c)
    model.fit((inputs - mean) / scale, np.asarray(y, np.float64))
    return Combiner(
        "ridge",
        "regression",
        np.asarray(model.coef_, np.float64),
        float(model.intercept_),
        mean,
        scale,
    )


def fit_tree(scores: np.ndarray, y: np.ndarray, task: str, seed: int, threads: int) -> Combiner:
    """A small LightGBM on the member inputs (binary for direction, L2 for regression)."""
    import lightgbm as lgb

    params = {
        **TREE_META_PARAMS,
        "objective": "binary" if task == "direction" else "regression",
        "num_threads": threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    data = lgb.Dataset(meta_inputs(scores, task), label=np.asarray(y, np.float64))
    booster = lgb.train(params, data, num_boost_round=TREE_META_ROUNDS)
    k = scores.shape[1]
    importance = np.asarray(booster.feature_importance("gain"), np.float64)
    return Combiner("tree", task, importance.reshape(k), booster=booster)


def blend_loss(weights: np.ndarray, scores: np.ndarray, y: np.ndarray, task: str) -> float:
    """Log loss of the weighted P(up) (direction), or squared error relative to the target's
    mean square (regression, so the optimiser's tolerance means the same at any return scale)."""
    combined = scores @ weights
    if task == "direction":
        p = np.clip(combined, PROB_EPS, 1.0 - PROB_EPS)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))
    return float(np.mean((combined - y) ** 2) / max(float(np.mean(y**2)), 1e-300))


def fit_blend(scores: np.ndarray, y: np.ndarray, task: str) -> Combiner:
    """Weights w >= 0 with sum(w) = 1 minimising ``blend_loss`` (SLSQP from equal weights)."""
    from scipy.optimize import minimize

    k = scores.shape[1]
    target = np.asarray(y, np.float64)
    start = np.full(k, 1.0 / k)
    result = minimize(
        blend_loss,
        start,
        args=(scores, target, task),
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=[{"type": "eq", "fun": lambda w: float(np.sum(w) - 1.0)}],
        options={"ftol": 1e-12, "maxiter": 500},
    )
    # SLSQP may end a hair outside the simplex; project back so the contract holds exactly.
    weights = np.clip(np.asarray(result.x, np.float64), 0.0, None)
    weights = weights / weights.sum() if weights.sum() > 0 else start
    if blend_loss(weights, scores, target, task) > blend_loss(start, scores, target, task):
        weights = start  # never worse than the plain average on the rows it was fitted on
    return Combiner("blend", task, weights)


def fit_combiner(
    method: str,
    meta_learner: str,
    scores: np.ndarray,
    y: np.ndarray,
    task: str,
    c: float,
    seed: int,
    threads: int,
) -> Combiner:
    if method == "blending":
        return fit_blend(scores, y, task)
    if meta_learner == "tree":
        return fit_tree(scores, y, task, seed, threads)
    return fit_logistic(scores, y, c, seed) if task == "direction" else fit_ridge(scores, y, c)


def save_combiner(combiner: Combiner, directory: Path) -> None:
    (directory / COMBINER_FILE).write_text(json.dumps(combiner.to_json(), indent=2))
    if combiner.booster is not None:
        combiner.booster.save_model(str(directory / TREE_FILE))


def load_combiner(directory: Path) -> Combiner:
    path = directory / COMBINER_FILE
    try:
        data = json.loads(path.read_text())
        kind, task = str(data["kind"]), str(data["task"])
        weights = np.asarray(data["weights"], np.float64)
        mean = None if data["mean"] is None else np.asarray(data["mean"], np.float64)
        scale = None if data["scale"] is None else np.asarray(data["scale"], np.float64)
        intercept = float(data["intercept"])
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the ensemble directory is incomplete") from None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: unreadable or tampered (expected the combiner's JSON)") from None
    booster = None
    if kind == "tree":
        import lightgbm as lgb

        try:
            booster = lgb.Booster(model_file=str(directory / TREE_FILE))
        except lgb.basic.LightGBMError as exc:
            msg = str(exc).splitlines()[0]
            raise UserError(
                f"{directory / TREE_FILE}: cannot load the meta-learner ({msg})"
            ) from None
    return Combiner(kind, task, weights, intercept, mean, scale, booster)
