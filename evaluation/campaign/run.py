"""``run(conf)``: a campaign from its plan to its leaderboard, resuming whatever is done.

    resolve the plan (every config checked)  ->  per entry: study -> evaluation of its best
      ->  per ensemble: members = best tree and best sequence study of its target
          -> ensemble run -> evaluation  ->  leaderboard (also after every new evaluation)

Each study and evaluation is the user's own command in a child process (see steps.py); what
may be reused is decided by resume.py from state.json. No Hydra in here: tests call it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evaluation.campaign import board, render
from evaluation.campaign.config import CampaignRunConfig
from evaluation.campaign.leaderboard import EVALUATION_FILE, load_report
from evaluation.campaign.members import member_overrides, members_override
from evaluation.campaign.plan import EnsembleStep, Plan, StudyStep, resolve
from evaluation.campaign.progress import DONE, FAILED, REUSED, SKIPPED, View
from evaluation.campaign.resume import (
    STATE_FILE,
    State,
    evaluation_decision,
    file_hashes,
    fingerprint,
    run_decision,
    study_decision,
)
from evaluation.campaign.steps import error_line, raise_on_sigterm, run_module
from trainer.data.config import DataConfig
from trainer.tracking import Tracker, open_tracker

TRACKING_EXPERIMENT = "campaigns"  # the MLflow experiment of leaderboards
EXIT_OK = 0
EXIT_STEP_FAILED = 1
EVALUATION_CODES = (0, 3)  # promoted / evaluated, not promoted


@dataclass
class Session:
    plan: Plan
    state: State
    view: View
    started: float = field(default_factory=time.monotonic)
    hashes: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # finished studies
    reports: dict[str, board.Entry] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> state, note
    failed: bool = False

    def data_hash(self, data: DataConfig) -> str:
        key = repr(data)
        if key not in self.hashes:
            self.hashes[key] = data_hash(data)
        return self.hashes[key]

    def log(self, name: str) -> Path:
        return self.plan.board_dir / "logs" / f"{name}.log"

    def mark(self, name: str, state: str, note: str) -> None:
        self.steps[name] = {"name": name, "state": state, "note": note}
        if state == FAILED:
            self.failed = True


def data_hash(data: DataConfig) -> str:
    """The hash a run records for its data (trainer.dataset.market_hash), without features."""
    if data.source == "npz":
        from trainer.data.npz import read_table

        return read_table(data).data_hash
    from trainer.data.market import load_market
    from trainer.dataset import market_hash

    return market_hash(load_market(data))


def to_schema(cfg: Any) -> CampaignRunConfig:
    """The composed config as its schema object; an OmegaConf error names the key."""
    from trainer.config import to_typed

    return to_typed(cfg, CampaignRunConfig, "a campaign config")


def run(conf: CampaignRunConfig) -> int:
    """The campaign of ``conf`` (``compare=[...]`` is ``evaluation.campaign.compare``)."""
    plan = resolve(conf)  # every check that needs no work, before any work
    tracker = open_tracker(conf.tracking, conf.artifacts_dir, experiment=TRACKING_EXPERIMENT)
    raise_on_sigterm()
    state = State(plan.board_dir / STATE_FILE)
    view = View(f"campaign {plan.name}", conf.progress)
    for s in plan.studies:
        view.add(s.name, f"{s.horizon} {s.task}", "study", state.seconds([s.name]))
    for e in plan.ensembles:
        view.add(e.name, f"{e.horizon} {e.task}", "ensemble run", state.seconds([e.name]))
    session = Session(plan, state, view)
    with view.shown():
        for step in plan.studies:
            summary = run_study(session, step)
            if summary is None:
                continue
            if not summary.get("best"):
                session.mark(step.name, SKIPPED, "the study has no complete trial")
                view.finish(step.name, "evaluation", SKIPPED, "no complete trial")
                continue
            session.summaries[step.name] = summary
            evaluate(
                session,
                step.name,
                step.study_dir / "best",
                step.horizon,
                step.report_name,
                step.data,
                "study",
                _study_extra(step),
            )
        for ens in plan.ensembles:
            run_ensemble(session, ens)
        data = write_board(session)
    track(tracker, plan.board_dir, data)
    if conf.progress:
        from evaluation.campaign.console import print_board

        print_board(data, plan.board_dir, view.headline())
    return EXIT_STEP_FAILED if session.failed else EXIT_OK


def _study_extra(step: StudyStep) -> dict[str, Any]:
    return {
        "entry": step.name,
        "hardware": step.hardware,
        "settings": list(step.settings),
        "overrides": list(step.own),
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_study(session: Session, step: StudyStep) -> dict[str, Any] | None:
    """Run or resume the study; its summary.json once finished, None when it failed."""
    plan, view = session.plan, session.view
    current = fingerprint(
        args=list(step.sweep_args(Path("-"), plan.artifacts_dir)),
        data=session.data_hash(step.data),
    )
    summary_path = step.study_dir / "summary.json"
    journal = step.study_dir / "journal.log"
    summary = _read(summary_path)
    after = (
        summary is not None
        and journal.is_file()
        and journal.stat().st_mtime_ns > summary_path.stat().st_mtime_ns
    )
    recorded = session.state.get("studies", step.name)
    decision = study_decision(
        recorded.get("fingerprint") if recorded else None, current, summary, step.budget, after
    )
    if not decision.redo and summary is not None:
        view.finish(step.name, "study", REUSED, _trials_note(summary))
        return summary
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    sweep_dir = plan.board_dir / "sweeps" / step.name / stamp
    log = session.log(f"{step.name}.study")
    view.start(step.name, "study", decision.reason, log)
    t0 = time.monotonic()
    code = run_module("trainer", step.sweep_args(sweep_dir, plan.artifacts_dir), log)
    spent = time.monotonic() - t0 + float((recorded or {}).get("seconds", 0.0))
    summary = _read(summary_path)
    counts = (summary or {}).get("counts") or {}
    done = int(counts.get("complete", 0)) + int(counts.get("pruned", 0))
    if code != 0 or summary is None or done < step.budget:
        why = error_line(log) if code != 0 else f"stopped after {done} of {step.budget} trials"
        note = f"exit {code}: {why}" if code else why
        session.state.put("studies", step.name, {"fingerprint": None, "seconds": spent})
        view.finish(step.name, "study", FAILED, note)
        view.finish(step.name, "evaluation", SKIPPED, "study failed")
        session.mark(step.name, FAILED, f"study: {note} (log: {log})")
        return None
    session.state.put(
        "studies",
        step.name,
        {"fingerprint": current, "finished": _now(), "seconds": spent, "study": step.study_name},
    )
    view.finish(step.name, "study", DONE, _trials_note(summary))
    return summary


def _trials_note(summary: dict[str, Any]) -> str:
    c = summary.get("counts") or {}
    return f"{c.get('complete', 0)}+{c.get('pruned', 0)} pruned of {summary.get('budget')}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def evaluate(
    session: Session,
    name: str,
    run_dir: Path,
    horizon: str,
    report_name: str,
    data: DataConfig,
    kind: str,
    extra: dict[str, Any],
) -> None:
    """Evaluate a run (or reuse the report of the same inputs); its report joins the board."""
    plan, view = session.plan, session.view
    args = plan.evaluation_args(run_dir, report_name, horizon)
    current = fingerprint(run_files=file_hashes(run_dir), data=session.data_hash(data), args=args)
    report_dir = Path(plan.artifacts_dir) / "reports" / report_name
    recorded = session.state.get("evaluations", name)
    decision = evaluation_decision(recorded, current, _read(report_dir / EVALUATION_FILE))
    if decision.redo:
        log = session.log(f"{name}.evaluation")
        view.start(name, "evaluation", decision.reason, log)
        t0 = time.monotonic()
        code = run_module("evaluation", args, log)
        spent = time.monotonic() - t0
        report = _read(report_dir / EVALUATION_FILE)
        if code not in EVALUATION_CODES or report is None:
            note = f"exit {code}: {error_line(log)}"
            view.finish(name, "evaluation", FAILED, note)
            session.mark(name, FAILED, f"evaluation: {note} (log: {log})")
            return
        session.state.put(
            "evaluations",
            name,
            {
                "fingerprint": current,
                "created": report.get("created"),
                "report": str(report_dir),
                "seconds": spent,
            },
        )
        view.finish(name, "evaluation", DONE)
    else:
        view.finish(name, "evaluation", REUSED)
    session.mark(name, DONE if decision.redo else REUSED, "")
    session.reports[name] = board.Entry(name, kind, load_report(report_dir, name), extra)
    if decision.redo:
        write_board(session)  # a long campaign's board grows as it goes


def run_ensemble(session: Session, ens: EnsembleStep) -> None:
    plan, view = session.plan, session.view
    chosen: list[tuple[StudyStep, dict[str, str]]] = []
    described: list[dict[str, Any]] = []
    for kind in ens.kinds:
        candidates = [
            s
            for s in plan.studies
            if s.family == kind
            and s.horizon == ens.horizon
            and s.task == ens.task
            and s.name in session.summaries
        ]
        if not candidates:
            note = f"no finished {kind} study for {ens.horizon} {ens.task}"
            view.finish(ens.name, "ensemble run", SKIPPED, note)
            view.finish(ens.name, "evaluation", SKIPPED)
            session.mark(ens.name, SKIPPED, note)
            return
        # Chosen on the studies' own (validation) objective: the walk-forward hours the
        # leaderboard ranks on stay out of the choice.
        best = max(candidates, key=lambda s: float(session.summaries[s.name]["best"]["objective"]))
        overrides, other = member_overrides(best, session.summaries[best.name])
        chosen.append((best, overrides))
        described.append(
            {
                "kind": kind,
                "entry": best.name,
                "model": best.model,
                "trial": session.summaries[best.name]["best"].get("trial"),
                "study_objective": session.summaries[best.name]["best"].get("objective"),
                "overrides": overrides,
                "not_carried": other,
            }
        )
    args = [
        *ens.overrides,
        members_override(chosen),
        "model.use=",
        f"artifacts_dir={plan.artifacts_dir}",
        f"hydra.run.dir={ens.run_dir}",
    ]
    current = fingerprint(args=args, data=session.data_hash(ens.data))
    recorded = session.state.get("runs", ens.name)
    complete = all((ens.run_dir / f).exists() for f in ("metrics.json", "metadata.json", "model"))
    decision = run_decision(recorded.get("fingerprint") if recorded else None, current, complete)
    if decision.redo:
        if ens.run_dir.exists():
            shutil.rmtree(ens.run_dir)  # the campaign's own: a stale or half-written run
        log = session.log(f"{ens.name}.run")
        view.start(ens.name, "ensemble run", decision.reason, log)
        t0 = time.monotonic()
        code = run_module("trainer", args, log)
        spent = time.monotonic() - t0
        if code != 0:
            note = f"exit {code}: {error_line(log)}"
            view.finish(ens.name, "ensemble run", FAILED, note)
            view.finish(ens.name, "evaluation", SKIPPED, "ensemble run failed")
            session.mark(ens.name, FAILED, f"ensemble run: {note} (log: {log})")
            return
        session.state.put(
            "runs",
            ens.name,
            {
                "fingerprint": current,
                "run_dir": str(ens.run_dir),
                "seconds": spent,
                "members": described,
            },
        )
        view.finish(ens.name, "ensemble run", DONE)
    else:
        view.finish(ens.name, "ensemble run", REUSED)
    extra = {
        "entry": ens.name,
        "method": ens.method,
        "members": described,
        "hardware": ens.hardware,
        "settings": sorted({s for m, _ in chosen for s in m.settings}),
    }
    evaluate(
        session, ens.name, ens.run_dir, ens.horizon, ens.report_name, ens.data, "ensemble", extra
    )


def _entries(session: Session) -> list[board.Entry]:
    entries = []
    for entry in session.reports.values():
        spent = {
            kind: float(record.get("seconds", 0.0))
            for kind in ("studies", "runs", "evaluations")
            if (record := session.state.get(kind, entry.name))
        }
        entries.append(
            board.Entry(entry.name, entry.kind, entry.report, {**entry.extra, "campaign_s": spent})
        )
    if session.plan.baseline is not None:
        base = load_report(session.plan.baseline, "campaign.baseline")
        entries.append(board.Entry(f"baseline: {base.data.get('name')}", "baseline", base))
    return entries


def write_board(session: Session) -> dict[str, Any]:
    plan = session.plan
    names = [s.name for s in plan.studies] + [e.name for e in plan.ensembles]
    steps = [
        session.steps.get(n, {"name": n, "state": "left", "note": "not run yet"}) for n in names
    ]
    budgets = sorted({s.budget for s in plan.studies})
    context = {
        "campaign": {
            "name": plan.name,
            "entries": len(plan.studies),
            "ensembles": len(plan.ensembles),
            "budget": budgets[-1] if budgets else None,
            "pruner": ", ".join(sorted({s.pruner for s in plan.studies})) or "n/a",
            "device": "CUDA (GPU settings)" if plan.on_cuda else "CPU (CPU-sweep settings)",
            "evaluation": list(plan.evaluation),
            "baseline": str(plan.baseline) if plan.baseline else None,
            "overrides": list(plan.user_overrides),
            "wall_time_s": {
                "session": time.monotonic() - session.started,
                "total": session.state.seconds(names),
            },
        }
    }
    data = board.build(
        plan.name,
        _entries(session),
        plan.sort_by,
        plan.top_n,
        f"campaign {plan.name}",
        context,
        steps,
    )
    render.write(data, plan.board_dir)
    return data


def track(tracker: Tracker, board_dir: Path, data: dict[str, Any]) -> None:
    """The one place a finished leaderboard is handed to tracking: with ``tracking=mlflow``
    its files and each row's numbers (``tracker`` was opened, its store checked, before any
    work)."""
    tracker.log_leaderboard(str(data.get("name") or board_dir.name), board_dir, data["rows"])
