"""Overfitting statistics of a study's chosen model, from the study's own trials.

Called by ``python -m evaluation`` when the run is a study's ``best/``. The study is read from
``artifacts/studies/<study>/``: its storage URL and name from ``summary.json`` when present,
else the journal file in that folder. Every complete trial whose run directory (trial user
attribute ``run_dir``) still exists is reloaded and replayed on the hours it was not trained
on (valid + test of its split), giving a (T x N) matrix of hourly net returns; the deflated
Sharpe ratio of the best trial and the PBO (CSCV) come from that matrix. Where any of this is
missing the statistics are reported as n/a with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from evaluation.backtest import simple_returns
from evaluation.overfitting import deflated_sharpe_of, probability_of_backtest_overfitting
from trainer.artifacts import load_run
from trainer.config import CostsConfig, ObjectiveConfig, StrategyConfig, TargetConfig
from trainer.dataset import Table, prepare
from trainer.errors import UserError
from trainer.fit import hours_of, spec_of
from trainer.objective import hourly_positions
from trainer.splits import holdout
from trainer.trading import backtest

JOURNAL_NAMES = ("journal.log",)


@dataclass(frozen=True)
class StudyStats:
    available: bool
    reason: str = ""
    study: str | None = None
    n_trials_tried: int = 0  # complete + pruned: every configuration the study looked at
    n_trials_used: int = 0  # complete trials whose runs could be replayed
    dsr: dict[str, Any] = field(default_factory=dict)
    pbo: dict[str, Any] = field(default_factory=dict)

    @property
    def dsr_value(self) -> float | None:
        return self.dsr.get("value") if self.available else None

    @property
    def pbo_value(self) -> float | None:
        return self.pbo.get("value") if self.available and self.pbo else None

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "reason": self.reason,
            "study": self.study,
            "n_trials_tried": self.n_trials_tried,
            "n_trials_used": self.n_trials_used,
            "deflated_sharpe": self.dsr or None,
            "pbo": self.pbo or None,
        }


def unavailable(reason: str) -> StudyStats:
    return StudyStats(False, reason)


def load_study(study_dir: Path) -> Any:
    """The Optuna study kept in ``study_dir``: summary.json names it and its storage (a
    database URL or a journal file); without a summary, the folder's journal.log."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    name: str = study_dir.name
    spec: str | None = None
    summary = study_dir / "summary.json"
    if summary.is_file():
        try:
            data = json.loads(summary.read_text())
        except ValueError:
            raise UserError(f"{summary}: not valid JSON (truncated or tampered)") from None
        name = str(data.get("study") or data.get("study_name") or name)
        spec = data.get("storage")
    if spec is None:
        journal = next((study_dir / n for n in JOURNAL_NAMES if (study_dir / n).is_file()), None)
        if journal is None:
            return None
        spec = str(journal)
    storage: Any = spec
    if "://" not in spec:
        storage = JournalStorage(JournalFileBackend(spec))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage)


def study_stats(study_dir: Path, table: Table, cost_bps: float, n_blocks: int) -> StudyStats:
    import optuna

    try:
        study = load_study(study_dir)
    except (KeyError, ValueError, OSError, ImportError) as exc:  # missing study, driver, file
        return unavailable(f"cannot open the study in {study_dir}: {str(exc).splitlines()[0]}")
    if study is None:
        return unavailable(f"{study_dir}: no summary.json storage or journal file")
    trials = study.get_trials(deepcopy=False)
    tried = [
        t
        for t in trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    columns: list[np.ndarray] = []
    numbers: list[int] = []
    for trial in complete:
        run_dir = trial.user_attrs.get("run_dir")
        if run_dir is None or not Path(run_dir).is_dir():
            continue
        net = replay(Path(run_dir), table, cost_bps)
        if net is not None and (not columns or net.shape == columns[0].shape):
            columns.append(net)
            numbers.append(trial.number)
    base = StudyStats(
        False, study=study.study_name, n_trials_tried=len(tried), n_trials_used=len(columns)
    )
    if len(columns) < 2:
        return StudyStats(
            False,
            f"{len(columns)} replayable complete trial(s) in study {study.study_name}; DSR and"
            " PBO need at least two",
            base.study,
            base.n_trials_tried,
            base.n_trials_used,
        )
    matrix = np.column_stack(columns)  # (T, N) hourly net returns on hours no trial trained on
    try:
        best_number = study.best_trial.number
    except ValueError:
        best_number = numbers[0]
    chosen = (
        numbers.index(best_number)
        if best_number in numbers
        else int(np.argmax(matrix.mean(axis=0) / np.maximum(matrix.std(axis=0), 1e-12)))
    )
    dsr = deflated_sharpe_of(matrix, chosen, n_trials=max(len(tried), len(columns)))
    pbo: dict[str, Any] = {}
    if matrix.shape[0] >= 2 * n_blocks:
        result = probability_of_backtest_overfitting(matrix, n_blocks)
        pbo = {
            "value": result.value,
            "n_splits": result.n_splits,
            "n_blocks": n_blocks,
            "median_logit": float(np.median(result.logits)),
        }
    return StudyStats(
        True,
        "",
        study.study_name,
        len(tried),
        len(columns),
        {
            "value": dsr.value,
            "sharpe_per_hour": dsr.sharpe,
            "expected_max_sharpe": dsr.expected_max_sharpe,
            "n_trials": dsr.n_trials,
            "var_sharpe": dsr.var_sharpe,
            "n_obs": dsr.n_obs,
            "skewness": dsr.skewness,
            "kurtosis": dsr.kurtosis,
            "chosen_trial": numbers[chosen],
        },
        pbo,
    )


def replay(run_dir: Path, table: Table, cost_bps: float) -> np.ndarray | None:
    """Hourly net returns of a saved run on the valid + test hours of its holdout split;
    None when the run was trained on other data or another split."""
    run = load_run(run_dir)
    if run.metadata.get("data_hash") != table.data_hash:
        return None
    cfg = run.config
    if cfg.split.name != "holdout":  # a walk-forward trial's model is its last fold's
        return None
    horizon = int(str(cfg.target.horizon).rstrip("h"))
    embargo = cfg.split.embargo_hours if cfg.split.embargo_hours is not None else horizon
    fractions = (cfg.split.train, cfg.split.valid, cfg.split.test)
    fold = holdout(table.timestamps, fractions, embargo, table.calendar)
    prepared = prepare(table, fold, horizon, str(cfg.target.task), float(cfg.features.constant_tol))
    if prepared.feature_names != run.feature_names:
        return None
    spec = _spec(cfg)
    rule = run.rule
    nets = []
    for part, rows in ((prepared.valid, fold.valid), (prepared.test, fold.test)):
        scores = run.learner.predict(part)
        hours = hours_of(part.timestamps)
        pos, decisions = hourly_positions(scores, rule, part.returns, hours, spec)
        ret = simple_returns(table.labels["ret_1h"][rows])
        nets.append(backtest(pos, ret, cost_bps, decisions).net)
    return np.concatenate(nets)


def _spec(cfg: Any) -> Any:
    """The run's objective and decision rule from its stored config (runs saved before the
    strategy group traded the threshold rule)."""

    def part(key: str, schema: Any) -> Any:
        node = OmegaConf.select(cfg, key)
        values = OmegaConf.to_container(node) if isinstance(node, DictConfig) else None
        if not isinstance(values, dict):
            return schema()
        return schema(**{str(k): v for k, v in values.items()})

    return spec_of(
        part("target", TargetConfig),
        part("objective", ObjectiveConfig),
        part("costs", CostsConfig),
        part("strategy", StrategyConfig),
    )
