"""``tracking=mlflow``: runs, studies, evaluations and champions in an MLflow tracking store.

Imported only when ``tracking=mlflow`` (``trainer.tracking.open_tracker``). What goes where:

- a single run: one run in its experiment (``runs`` by default), the composed config as params,
  the valid/test metrics, tags (``quantsweep.*``: data hash, git revision, seed, device, run
  dir) and ``metrics.json``, ``metadata.json``, ``model/`` and ``.hydra/`` as artifacts;
- a study: a parent run named after it (its run id kept in the study's user attr
  ``quantsweep.mlflow``, so a resume reopens it) with one child run per trial, its Optuna state
  as the tag ``quantsweep.state`` (COMPLETE, PRUNED, FAILED; MLflow status FINISHED, KILLED,
  FAILED) and its intermediate values as the steps of the metric ``intermediate``; at the end
  the study's summary, importances and thresholds as the parent's artifacts;
- an evaluation: a run beside the evaluated one (found by the sha256 of its metadata.json),
  tagged with its id; a promotion: a version of the registered model named after the target
  holding the promoted files, manifest included, with the alias ``champion``.

Trials are logged by one background thread, so a trial never waits for the store. Every call
is retried (``tracking.retries``, waits doubling from ``tracking.retry_wait_s``); what still
fails is logged as an error and listed in ``not_logged``, which the study's summary carries.
After a call has failed every retry, the next ones get one attempt each until one succeeds, so
a dead server costs the study seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import math
import os
import queue
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from trainer.errors import UserError, flatten

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from trainer.tracking import TrackingConfig

log = logging.getLogger(__name__)

STUDY_ATTR = "quantsweep.mlflow"  # study user attr: {uri: {"run_id", "not_logged"}}
CHAMPION = "champion"
RUN_FILES = ("metrics.json", "metadata.json", "model", ".hydra")
STUDY_FILES = (
    "summary.json",
    "summary.md",
    "importances.json",
    "importances.png",
    "thresholds.json",
)
# Optuna's trial state as the tag value and as MLflow's run status
STATES = {"COMPLETE": ("COMPLETE", "FINISHED"), "PRUNED": ("PRUNED", "KILLED")}
FAILED = ("FAILED", "FAILED")
MAX_PARAM_LENGTH = 6000  # MLflow refuses longer param values
MAX_TAG_LENGTH = 5000


class MlflowTracker:
    def __init__(
        self, config: TrackingConfig, uri: str, experiment: str, artifacts_dir: Path
    ) -> None:
        # One request each, bounded: retrying is ours (mlflow's default retries for minutes)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(math.ceil(config.timeout_s)))
        # no "View run at" line per run on stdout, through the progress bar
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.config = config
        self.uri = absolute_uri(uri)
        self.experiment = experiment
        self.explicit_experiment = config.experiment is not None
        if self.uri.startswith("sqlite:///"):  # before the client, which opens the store
            db = Path(self.uri.removeprefix("sqlite:///"))
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(
                    f"tracking.uri={self.uri}: cannot create {db.parent} ({exc.strerror})"
                ) from None
            commit_without_fsync(str(db))
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self.not_logged: list[dict[str, str]] = []
        self.trials_logged = 0
        self.parent_id: str | None = None
        self.study_name = ""
        self._down = False
        self._experiment_ids: dict[str, str] = {}
        self._study_params: dict[str, Any] = {}
        self._queue: queue.Queue[FrozenTrial] | None = None
        self._check()

    # -- opening ------------------------------------------------------------------------------
    def _check(self) -> None:
        """Reach the store now: an unreachable one is one clear error before any work."""
        where = f"tracking.uri={redact(self.uri)}"
        if self.uri.startswith(("http://", "https://")):
            try:
                with urllib.request.urlopen(
                    self.uri.rstrip("/") + "/health", timeout=self.config.timeout_s
                ):
                    pass
            except urllib.error.HTTPError:
                pass  # it answered (a proxy without /health): the store check below decides
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                raise UserError(
                    f"{where}: cannot reach the tracking server ({reason}); start it"
                    " (mlflow server), fix tracking.uri, or run with tracking=none"
                ) from None
        try:
            self.client.search_experiments(max_results=1)
        except Exception as exc:  # MlflowException, SQLAlchemy errors, connection errors
            reason = first_line(exc)
            raise UserError(f"{where}: cannot open the tracking store ({reason})") from None

    def _experiment_id(self, name: str) -> str:
        if name in self._experiment_ids:
            return self._experiment_ids[name]
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                eid = self.client.create_experiment(name, artifact_location=self._artifacts(name))
            except Exception:  # another process created it meanwhile
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
                eid = found.experiment_id
        else:
            eid = found.experiment_id
        self._experiment_ids[name] = eid
        return eid

    def _artifacts(self, experiment: str) -> str | None:
        """Beside a SQLite store: ``<db dir>/artifacts/<experiment>``; else the server's."""
        if not self.uri.startswith("sqlite:///"):
            return None
        safe = re.sub(r"[^\w.-]+", "_", experiment)
        root = Path(self.uri.removeprefix("sqlite:///")).parent / "artifacts" / safe
        return root.as_uri()

    # -- retrying -----------------------------------------------------------------------------
    def _attempt(self, what: str, steps: Sequence[Callable[[], Any]]) -> bool:
        """Run ``steps`` in order, retrying from the one that failed; False if never done."""
        tries = 1 if self._down else 1 + self.config.retries
        done = 0
        error: BaseException | None = None
        for attempt in range(tries):
            try:
                while done < len(steps):
                    steps[done]()
                    done += 1
                self._down = False
                return True
            except Exception as exc:
                error = exc
                if attempt + 1 < tries:
                    time.sleep(self.config.retry_wait_s * 2**attempt)
        self._down = True
        text = first_line(error) if error is not None else "unknown error"
        self.not_logged.append({"what": what, "error": text})
        log.error(
            "tracking: %s not logged to %s after %d attempt(s): %s",
            what,
            redact(self.uri),
            tries,
            text,
        )
        return False

    # -- a single run -------------------------------------------------------------------------
    def log_run(self, run_dir: Path, metadata: dict[str, Any], metrics: dict[str, Any]) -> None:
        run: dict[str, str] = {}
        tags = {**run_tags(run_dir, metadata), "mlflow.runName": run_dir.name}

        def create() -> None:
            eid = self._experiment_id(self.experiment)
            run["id"] = self.client.create_run(eid, tags=tags).info.run_id

        def batch() -> None:
            now = millis(None)
            params = config_params(metadata.get("config", {}))
            self._batch(run["id"], params, metric_list(metrics, now), {})

        steps = [create, batch, lambda: self._files(run["id"], run_dir, RUN_FILES)]
        steps.append(lambda: self.client.set_terminated(run["id"], "FINISHED"))
        self._attempt(f"run {run_dir}", steps)

    # -- a study ------------------------------------------------------------------------------
    def start_study(
        self, study: optuna.Study, study_dir: Path, config: Callable[[], dict[str, Any]]
    ) -> None:
        self._study_params = config_params(config())
        self.study_name = study.study_name
        with _locked(study_dir / ".tracking.lock"):  # processes starting together: one parent
            recorded = study.user_attrs.get(STUDY_ATTR, {}).get(self.uri, {})
            self.parent_id = self._reopen(recorded.get("run_id"))
            if self.parent_id is None:
                self.parent_id = self._new_parent(study)
                if self.parent_id is not None:
                    attr = dict(study.user_attrs.get(STUDY_ATTR, {}))
                    attr[self.uri] = {**recorded, "run_id": self.parent_id}
                    study.set_user_attr(STUDY_ATTR, attr)
        self._queue = queue.Queue()
        threading.Thread(target=self._drain, name="tracking", daemon=True).start()

    def _reopen(self, run_id: str | None) -> str | None:
        if run_id is None:
            return None
        try:
            run = self.client.get_run(run_id)
        except Exception:  # deleted from the store, or the store was replaced
            return None
        if run.info.lifecycle_stage != "active":
            return None
        if run.info.status != "RUNNING":
            self._attempt("the study's run (reopening)", [lambda: self._running(run_id)])
        return run_id

    def _running(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def _new_parent(self, study: optuna.Study) -> str | None:
        out: dict[str, str] = {}
        tags = {
            "mlflow.runName": study.study_name,
            "quantsweep.role": "study",
            "quantsweep.study": study.study_name,
        }

        def create() -> None:
            eid = self._experiment_id(self.experiment)
            out["id"] = self.client.create_run(eid, tags=tags).info.run_id

        self._attempt(f"the study's run ({study.study_name})", [create])
        return out.get("id")

    def log_trial(self, trial: FrozenTrial) -> None:
        if self._queue is None:  # no study opened: say so rather than drop it
            self.not_logged.append({"what": f"trial {trial.number}", "error": "no study run"})
            return
        self._queue.put(trial)

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            trial = self._queue.get()
            try:
                if self._log_trial(trial):
                    self.trials_logged += 1
            except Exception as exc:  # a bug here must not stop the queue (flush waits on it)
                self.not_logged.append({"what": f"trial {trial.number}", "error": first_line(exc)})
                log.exception("tracking: trial %d not logged", trial.number)
            finally:
                self._queue.task_done()

    def _log_trial(self, trial: FrozenTrial) -> bool:
        what = f"trial {trial.number}"
        if self.parent_id is None:
            self.not_logged.append({"what": what, "error": "the study's run could not be made"})
            return False
        parent = self.parent_id
        state, status = STATES.get(trial.state.name, FAILED)
        attrs = trial.user_attrs
        run_dir = Path(attrs["run_dir"]) if isinstance(attrs.get("run_dir"), str) else None
        metadata = read_json(run_dir / "metadata.json") if run_dir else {}
        tags = {
            **(run_tags(run_dir, metadata) if run_dir else {}),
            "mlflow.runName": what,
            "mlflow.parentRunId": parent,
            "quantsweep.study": self.study_name,
            "quantsweep.trial": str(trial.number),
            "quantsweep.state": state,
        }
        for key in ("seed", "data_hash", "git_revision", "error"):
            if attrs.get(key) is not None:
                tags[f"quantsweep.{key}"] = str(attrs[key])[:MAX_TAG_LENGTH]
        params = dict(self._study_params)
        for name, value in trial.params.items():
            params[name.split("|", 1)[0]] = value  # a conditional param under its key
        end = millis(trial.datetime_complete)
        metrics = metric_list(attrs.get("metrics") or {}, end)
        if trial.value is not None:
            metrics.append(Metric("objective", float(trial.value), end, 0))
        metrics += [
            Metric("intermediate", float(v), end, int(step))
            for step, v in sorted(trial.intermediate_values.items())
        ]
        run: dict[str, str] = {}

        def create() -> None:
            eid = self._experiment_id(self.experiment)
            start = millis(trial.datetime_start)
            run["id"] = self.client.create_run(eid, start_time=start, tags=tags).info.run_id

        steps = [create, lambda: self._batch(run["id"], params, metrics, {})]
        if run_dir is not None and run_dir.is_dir():
            steps.append(lambda: self._files(run["id"], run_dir, RUN_FILES))
        steps.append(lambda: self.client.set_terminated(run["id"], status, end_time=end))
        return self._attempt(what, steps)

    def flush(self, study: optuna.Study) -> dict[str, Any] | None:
        if self._queue is not None:
            self._queue.join()
        if self.parent_id is not None:
            self._attempt("the study's params and metrics", [lambda: self._study_batch(study)])
        merged = self._record_not_logged(study)
        return {
            "uri": redact(self.uri),
            "experiment": self.experiment,
            "run_id": self.parent_id,
            "trials_logged_this_session": self.trials_logged,
            "not_logged": merged,
        }

    def _study_batch(self, study: optuna.Study) -> None:
        assert self.parent_id is not None
        trials = study.get_trials(deepcopy=False)
        searched = {k.split("|", 1)[0] for t in trials for k in t.params}
        logged = self.client.get_run(self.parent_id).data.params
        params = {k: v for k, v in self._study_params.items() if k not in searched}
        if logged:  # a resume: params are written once
            params = {}
        now = millis(None)
        counts: dict[str, int] = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        for t in trials:
            if t.state.name in counts:
                counts[t.state.name] += 1
        metrics = [Metric(f"trials.{k.lower()}", float(v), now, 0) for k, v in counts.items()]
        with contextlib.suppress(ValueError):  # no complete trial yet
            metrics.append(Metric("best.objective", float(study.best_value), now, 0))
        self._batch(self.parent_id, params, metrics, {})

    def _record_not_logged(self, study: optuna.Study) -> list[dict[str, str]]:
        """What this and earlier sessions (or other processes) did not log, kept on the study."""
        attr = dict(study.user_attrs.get(STUDY_ATTR, {}))
        mine = dict(attr.get(self.uri, {}))
        merged = [*mine.get("not_logged", [])]
        merged += [n for n in self.not_logged if n not in merged]
        if merged != mine.get("not_logged", []):
            mine["not_logged"] = merged
            attr[self.uri] = mine
            study.set_user_attr(STUDY_ATTR, attr)
        return merged

    def end_study(self, study_dir: Path, finished: bool) -> bool:
        if self.parent_id is None:
            return True
        parent = self.parent_id
        files = [study_dir / f for f in STUDY_FILES if (study_dir / f).is_file()]

        def upload() -> None:
            for f in files:
                self.client.log_artifact(parent, str(f))

        steps: list[Callable[[], Any]] = [upload]
        if finished:  # other processes may still run trials of an unfinished study
            steps.append(lambda: self.client.set_terminated(parent, "FINISHED"))
        return self._attempt("the study's reports", steps)

    # -- evaluations, champions, leaderboards -------------------------------------------------
    def log_evaluation(
        self, report_dir: Path, evaluated: Path, data: dict[str, Any], promoted: Path | None
    ) -> None:
        found = self._find_run(evaluated)
        experiment = self.experiment
        out: dict[str, str] = {}
        tags = {
            "mlflow.runName": f"evaluation {report_dir.name}",
            "quantsweep.role": "evaluation",
            "quantsweep.report_dir": str(report_dir.resolve()),
            "quantsweep.evaluated_run_dir": str(evaluated.resolve()),
            "quantsweep.passed": str(bool(data.get("promotion", {}).get("passed"))),
            "quantsweep.promoted": str(promoted is not None),
        }

        def create() -> None:
            eid = self._experiment_id(experiment)
            if found is not None:
                if not self.explicit_experiment:
                    eid = found[1]  # beside the evaluated run
                tags["quantsweep.evaluated_run_id"] = found[0]
                link = f"#/experiments/{found[1]}/runs/{found[0]}"
                tags["mlflow.note.content"] = f"Evaluation of [run {found[0]}]({link})"
            out["id"] = self.client.create_run(eid, tags=tags).info.run_id

        def batch() -> None:
            now = millis(None)
            keep = ("backtests", "signal_check")
            metrics = metric_list({k: data[k] for k in keep if k in data}, now)
            source = {k: v for k, v in data.get("source", {}).items() if k != "run_metrics"}
            wf = {k: v for k, v in data.get("walk_forward", {}).items() if k != "folds"}
            params = flatten({"source": source, "walk_forward": wf, "costs": data.get("costs")})
            self._batch(out["id"], params, metrics, {})

        steps = [create, batch, lambda: self._files(out["id"], report_dir, None)]
        steps.append(lambda: self.client.set_terminated(out["id"], "FINISHED"))
        if self._attempt(f"evaluation {report_dir.name}", steps) and promoted is not None:
            self._register(promoted, out["id"])

    def _find_run(self, run_dir: Path) -> tuple[str, str] | None:
        """The (run id, experiment id) logged from this run directory, by its metadata's hash."""
        sha = file_sha256(run_dir / "metadata.json")
        if sha is None:
            return None
        try:
            ids = [e.experiment_id for e in self.client.search_experiments()]
            runs = self.client.search_runs(
                ids, f"tags.`quantsweep.metadata_sha256` = '{sha}'", max_results=1
            )
        except Exception as exc:
            log.warning("tracking: the evaluated run was not looked up: %s", first_line(exc))
            return None
        return (runs[0].info.run_id, runs[0].info.experiment_id) if runs else None

    def _register(self, promoted: Path, run_id: str) -> None:
        """The promoted files as a new version of the target's model, now the champion."""
        name = promoted.name  # the target, e.g. 1h_direction
        manifest = read_json(promoted / "manifest.json")
        out: dict[str, str] = {}

        def upload() -> None:
            for path in sorted(promoted.iterdir()):
                if path.name == "history" or path.name.startswith("."):
                    continue  # replaced champions are versions of their own already
                if path.is_dir():
                    self.client.log_artifacts(run_id, str(path), f"champion/{path.name}")
                else:
                    self.client.log_artifact(run_id, str(path), "champion")

        def register() -> None:
            with contextlib.suppress(Exception):  # it exists from an earlier promotion
                self.client.create_registered_model(name)
            source = self.client.get_run(run_id).info.artifact_uri.rstrip("/") + "/champion"
            tags = {
                f"quantsweep.{k}": str(manifest[k])[:MAX_TAG_LENGTH]
                for k in ("source_run", "report", "strategy", "config_sha256", "git_revision")
                if manifest.get(k) is not None
            }
            version = self.client.create_model_version(
                name,
                source,
                run_id=run_id,
                tags=tags,
                description=f"promoted {manifest.get('promoted_at', '')}; manifest.json inside",
            )
            out["version"] = str(version.version)

        def alias() -> None:
            previous = None
            with contextlib.suppress(Exception):  # no champion yet
                previous = self.client.get_model_version_by_alias(name, CHAMPION).version
            self.client.set_registered_model_alias(name, CHAMPION, out["version"])
            if previous is not None and str(previous) != out["version"]:
                self.client.set_model_version_tag(
                    name, str(previous), "quantsweep.replaced_by", out["version"]
                )

        self._attempt(f"the champion of {name}", [upload, register, alias])

    def log_leaderboard(self, name: str, directory: Path, rows: list[dict[str, Any]]) -> None:
        out: dict[str, str] = {}
        now = millis(None)
        metrics: list[Metric] = []
        for row in rows:
            label = str(row.get("name", len(metrics)))
            metrics += metric_list({label: {k: v for k, v in row.items() if k != "name"}}, now)

        def create() -> None:
            eid = self._experiment_id(self.experiment)
            tags = {"mlflow.runName": f"leaderboard {name}", "quantsweep.role": "leaderboard"}
            out["id"] = self.client.create_run(eid, tags=tags).info.run_id

        steps = [create, lambda: self._batch(out["id"], {}, metrics, {})]
        steps.append(lambda: self._files(out["id"], directory, None))
        steps.append(lambda: self.client.set_terminated(out["id"], "FINISHED"))
        self._attempt(f"leaderboard {name}", steps)

    # -- helpers ------------------------------------------------------------------------------
    def _batch(
        self,
        run_id: str,
        params: dict[str, Any],
        metrics: list[Metric],
        tags: dict[str, str],
    ) -> None:
        self.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(key(k), param_value(v)) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )

    def _files(self, run_id: str, directory: Path, names: Sequence[str] | None) -> None:
        """Files of ``directory`` (all, or ``names``) at the root of the run's artifacts."""
        paths = sorted(directory.iterdir()) if names is None else [directory / n for n in names]
        for path in paths:
            if path.name.startswith(".") and path.name != ".hydra":
                continue  # staging leftovers, locks
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), path.name)
            elif path.is_file():
                self.client.log_artifact(run_id, str(path))


@functools.cache
def commit_without_fsync(db: str) -> None:
    """WAL and ``synchronous=NORMAL`` on every connection to the SQLite store ``db``.

    SQLite's default waits for the disk at each commit; MLflow commits about seven times a
    run and dozens of times creating a store, which on a busy disk made tracking cost a study
    more than its trials' logging itself. A power cut may now lose the last commits, never
    corrupt the store; the run directories stay the record. Set before MLflow makes its
    engine (which runs the schema's migrations), so by a listener on every engine, matching
    the connection's file.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    target = os.path.realpath(db)

    def pragmas(connection: Any, _record: Any) -> None:
        if not isinstance(connection, sqlite3.Connection):
            return
        cursor = connection.cursor()
        try:
            files = [row[2] for row in cursor.execute("PRAGMA database_list")]
            if any(f and os.path.realpath(f) == target for f in files):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    event.listen(Engine, "connect", pragmas)


def run_tags(run_dir: Path | None, metadata: dict[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    if run_dir is not None:
        tags["quantsweep.run_dir"] = str(run_dir.resolve())
        sha = file_sha256(run_dir / "metadata.json")
        if sha is not None:
            tags["quantsweep.metadata_sha256"] = sha
    for key in ("data_hash", "git_revision", "seed", "device", "model"):
        if metadata.get(key) is not None:
            tags[f"quantsweep.{key}"] = str(metadata[key])
    target = metadata.get("target")
    if isinstance(target, dict):
        tags["quantsweep.target"] = f"{target.get('horizon')}_{target.get('task')}"
    if metadata.get("git_revision"):
        tags["mlflow.source.git.commit"] = str(metadata["git_revision"])
    return tags


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """A composed config as params: flattened keys, without the trial link (tags say that)."""
    return {k: v for k, v in flatten(config).items() if not k.startswith(("trial.", "hydra."))}


def key(name: str) -> str:
    """A name MLflow accepts for a param or metric (``1h+4h`` -> ``1h_4h``)."""
    return _NOT_IN_KEY.sub("_", name)[:MAX_KEY_LENGTH]


_NOT_IN_KEY = re.compile(r"[^\w\-. :/]")
MAX_KEY_LENGTH = 250


def param_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return text[:MAX_PARAM_LENGTH]


def metric_list(data: dict[str, Any], timestamp: int) -> list[Metric]:
    """Every number of nested dicts as a metric (``valid.f1_up``); lists and text are skipped."""
    out = []
    for name, value in flatten(data).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out.append(Metric(key(name), float(value), timestamp, 0))
    return out


def millis(when: datetime | None) -> int:
    return int((when.timestamp() if when is not None else time.time()) * 1000)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def absolute_uri(uri: str) -> str:
    """A relative SQLite path made absolute, so every process and ``mlflow ui`` agree."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def redact(uri: str) -> str:
    head, sep, rest = uri.partition("://")
    if "@" not in rest:
        return uri
    creds, _, host = rest.rpartition("@")
    return f"{head}{sep}{creds.split(':', 1)[0]}:***@{host}"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
