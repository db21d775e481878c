"""Where runs, studies, evaluations and promoted models are logged besides their directories.

    python -m trainer tracking=mlflow                 # a run in the experiment `runs`
    python -m trainer tracking=mlflow -m              # a study: a parent run, a child per trial
    python -m evaluation run=PATH tracking=mlflow     # its report, linked to the evaluated run
    mlflow ui --backend-store-uri sqlite:///artifacts/mlflow/mlflow.db

Directories stay the record; a ``Tracker`` mirrors them (docs/tracking.md says what goes where).
``tracking=none`` (the default) gets ``NullTracker`` and never imports MLflow; ``tracking=mlflow``
gets ``trainer.tracking_mlflow.MlflowTracker``, which checks the store is reachable when it
opens (a ``UserError`` before any work) and afterwards never raises: a failed call is retried,
then reported on the console and kept in ``not_logged`` for the study's summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trainer.errors import UserError, at_least, one_of

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from trainer.config import TrainConfig

TRACKERS = ("none", "mlflow")
DEFAULT_EXPERIMENT = "runs"  # runs outside a study


@dataclass
class TrackingConfig:
    name: str = "none"  # none | mlflow
    # An MLflow tracking URI (sqlite:///path.db, http://host:5000, ...); null: a SQLite store
    # in <artifacts_dir>/mlflow/ with the artifacts beside it
    uri: str | None = None
    experiment: str | None = None  # null: the study's name, `runs` for a single run
    retries: int = 3  # attempts after a failed call, before it is reported as not logged
    retry_wait_s: float = 1.0  # before the first retry, doubled for each next one
    timeout_s: float = 10.0  # per request to a tracking server, and the check at the start

    def __post_init__(self) -> None:
        one_of("tracking.name", self.name, TRACKERS)
        at_least("tracking.retries", self.retries, 0)
        at_least("tracking.retry_wait_s", self.retry_wait_s, 0.0)
        if self.timeout_s <= 0:
            raise UserError(f"tracking.timeout_s={self.timeout_s}: must be > 0")
        if self.uri is not None and not self.uri.strip():
            raise UserError("tracking.uri is empty: give a tracking URI, or null for the default")


class Tracker(Protocol):
    """What the trainer, the sweeper and the evaluation tell a tracker (one line each)."""

    def log_run(self, run_dir: Path, metadata: dict[str, Any], metrics: dict[str, Any]) -> None:
        """A single run (outside a study): config, metrics, tags and its files."""

    def start_study(
        self, study: optuna.Study, study_dir: Path, config: Callable[[], dict[str, Any]]
    ) -> None:
        """Open (or, on resume, reopen) the study's parent run; ``config()``: its fixed part."""

    def log_trial(self, trial: FrozenTrial) -> None:
        """A finished trial as a child run; queued, so a trial never waits for the tracker."""

    def flush(self, study: optuna.Study) -> dict[str, Any] | None:
        """Wait for the queued trials; the summary's ``tracking`` section (None: no tracking)."""

    def end_study(self, study_dir: Path, finished: bool) -> bool:
        """The study's reports as the parent's files; False when they were not logged."""

    def log_evaluation(
        self, report_dir: Path, evaluated: Path, data: dict[str, Any], promoted: Path | None
    ) -> None:
        """A report as a run linked to the evaluated one; a promotion as the new champion."""

    def log_leaderboard(self, name: str, directory: Path, rows: list[dict[str, Any]]) -> None:
        """A campaign's leaderboard: its files, and each row's numbers as metrics."""


class NullTracker:
    """``tracking=none``: nothing is logged anywhere but the directories."""

    def log_run(self, run_dir: Path, metadata: dict[str, Any], metrics: dict[str, Any]) -> None:
        return None

    def start_study(
        self, study: optuna.Study, study_dir: Path, config: Callable[[], dict[str, Any]]
    ) -> None:
        return None

    def log_trial(self, trial: FrozenTrial) -> None:
        return None

    def flush(self, study: optuna.Study) -> dict[str, Any] | None:
        return None

    def end_study(self, study_dir: Path, finished: bool) -> bool:
        return True

    def log_evaluation(
        self, report_dir: Path, evaluated: Path, data: dict[str, Any], promoted: Path | None
    ) -> None:
        return None

    def log_leaderboard(self, name: str, directory: Path, rows: list[dict[str, Any]]) -> None:
        return None


def default_uri(artifacts_dir: str | Path) -> str:
    return f"sqlite:///{(Path(artifacts_dir) / 'mlflow' / 'mlflow.db').resolve()}"


def open_tracker(
    config: TrackingConfig | None, artifacts_dir: str | Path, experiment: str | None = None
) -> Tracker:
    """The tracker of ``config``, its store checked now (``UserError`` when unreachable).

    ``experiment`` is the default when ``tracking.experiment`` is null (a study's name).
    """
    if config is None or config.name == "none":
        return NullTracker()
    try:
        from trainer.tracking_mlflow import MlflowTracker
    except ImportError as exc:
        raise UserError(
            f"tracking=mlflow needs MLflow ({exc}); install it: pip install -e '.[mlflow]'"
        ) from None

    return MlflowTracker(
        config,
        uri=config.uri or default_uri(artifacts_dir),
        experiment=config.experiment or experiment or DEFAULT_EXPERIMENT,
        artifacts_dir=Path(artifacts_dir),
    )


def run_tracker(conf: TrainConfig) -> Tracker:
    """A single run's tracker; a study's trial gets none (the sweeper logs its trials)."""
    if conf.trial.number is not None:
        return NullTracker()
    return open_tracker(conf.tracking, conf.artifacts_dir)


def config_tracker(node: Any, artifacts_dir: str | Path, experiment: str | None) -> Tracker:
    """The tracker of a composed config's ``tracking`` node (a DictConfig, or None)."""
    if node is None:
        return NullTracker()
    from omegaconf import OmegaConf

    config = OmegaConf.to_object(node) if not isinstance(node, TrackingConfig) else node
    if not isinstance(config, TrackingConfig):
        raise UserError("config key 'tracking': not a tracking config (tracking=none|mlflow)")
    return open_tracker(config, artifacts_dir, experiment)


def log_leaderboard(
    config: TrackingConfig | None,
    artifacts_dir: str | Path,
    name: str,
    directory: Path,
    rows: list[dict[str, Any]],
) -> None:
    """A campaign's leaderboard as a run of the experiment ``campaigns`` (or
    ``tracking.experiment``): the files of ``directory``, and each row's numbers as metrics
    named ``<row name>.<key>``. Nothing happens with ``tracking=none``."""
    open_tracker(config, artifacts_dir, experiment="campaigns").log_leaderboard(
        name, directory, rows
    )
