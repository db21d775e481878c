"""From the composed evaluation config to an exit code; and the command-line routing of
overrides meant for the evaluated run's config.

Exit codes: 0 the target strategy passed every guardrail and was promoted (or promotion was
off: ``promote=false``; or a forward test held), 3 evaluated but not promoted (a guardrail
failed, or the promotion was refused: other data, run files changed, ...), 2 a user error (bad
config, path, data), 4 ``verify`` found metrics that differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from evaluation.config import EvaluationConfig
from trainer.config import to_typed
from trainer.errors import UserError, writable_dir
from trainer.tracking import NullTracker, Tracker, open_tracker

if TYPE_CHECKING:
    from evaluation.evaluate import Evaluation

EXIT_PASSED = 0
EXIT_NOT_PROMOTED = 3
EXIT_VERIFY_MISMATCH = 4
# Top-level keys of a run's config: given bare on the command line they override the run.
RUN_KEYS = (
    "model",
    "data",
    "features",
    "split",
    "hardware",
    "target",
    "objective",
    "costs",
    "strategy",
    "seed",
)


def route_overrides(args: list[str]) -> list[str]:
    """Move bare run-config overrides (``data=csv``, ``model.max_depth=3``) into one
    ``overrides=[...]`` argument, merged with an explicit one; everything else is untouched."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    routed: list[str] = []
    rest: list[str] = []
    explicit: list[str] = []
    for arg in args:
        key = arg.split("=", 1)[0]
        root = key.split(".", 1)[0]
        if "=" in arg and not arg.startswith(("-", "+", "~")) and root in RUN_KEYS:
            routed.append(arg)
        elif "=" in arg and key == "overrides":
            value = OverridesParser.create().parse_override(arg).value()
            explicit += [str(v) for v in (value if isinstance(value, list) else [value])]
        else:
            rest.append(arg)
    if not routed and not explicit:
        return rest
    items = ",".join(_quote(a) for a in [*explicit, *routed])
    return [*rest, f"overrides=[{items}]"]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def to_schema(cfg: DictConfig | EvaluationConfig) -> EvaluationConfig:
    return to_typed(cfg, EvaluationConfig, "an evaluation config")


def run(cfg: DictConfig | EvaluationConfig) -> int:
    conf = to_schema(cfg)
    if conf.verify:
        return verify_command(conf)
    writable_dir("artifacts_dir", conf.artifacts_dir)  # reports and promotions, before the work
    # tracking=mlflow: an unreachable store is one error here, before any work
    tracker = open_tracker(conf.tracking, conf.artifacts_dir, experiment="evaluations")
    if conf.forward:
        if conf.run:
            raise UserError("run= and forward= together: evaluate a recipe or forward-test a model")
        from evaluation.forward import forward_test

        return finish(forward_test(conf), conf)
    from evaluation.evaluate import evaluate

    return finish(evaluate(conf), conf, tracker)


def finish(ev: Evaluation, conf: EvaluationConfig, tracker: Tracker | None = None) -> int:
    """Promote the refit (when every guardrail of the target strategy passed and nothing
    refuses it), write the report, print the summary; the exit code."""
    from dataclasses import replace

    from evaluation.evaluate import with_refit
    from evaluation.report import write

    promoted_to = None
    if ev.passed and ev.promotable is None and ev.mode == "evaluation":
        ev = with_refit(ev)
        refused = refusal(ev)
        if refused is None:
            promoted_to = publish(ev, conf)
        else:
            ev = replace(ev, promotable=refused)
    data = write(ev, promoted_to)
    (tracker or NullTracker()).log_evaluation(ev.report_dir, ev.source.path, data, promoted_to)
    if conf.progress:
        from evaluation.console import print_summary

        print_summary(data, str(ev.report_dir))
    if not ev.passed:
        return EXIT_NOT_PROMOTED
    if promoted_to is not None or ev.mode == "forward" or not conf.promote:
        return EXIT_PASSED
    return EXIT_NOT_PROMOTED


def refusal(ev: Evaluation) -> str | None:
    """Why a passing evaluation may not publish now: the run it read has changed since."""
    if ev.refit is None:
        return "no refit of the recipe"  # with_refit makes one whenever nothing blocked it
    snapshot = ev.source.snapshot
    changed = snapshot.changes() if snapshot is not None else []
    if changed:
        shown = ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
        return (
            f"files of the run changed since the evaluation read them ({shown} in"
            f" {snapshot.root if snapshot else ev.source.path}); evaluate the run again"
        )
    return None


def publish(ev: Evaluation, conf: EvaluationConfig) -> Path:
    from evaluation.evaluate import manifest_of
    from evaluation.promote import promote_refit

    assert ev.refit is not None
    return promote_refit(
        ev.refit,
        ev.source.config,
        Path(conf.artifacts_dir) / "promoted",
        ev.source.target,
        manifest_of(ev),
    )


def verify_command(conf: EvaluationConfig) -> int:
    from evaluation.console import print_verification
    from evaluation.manifest import run_of, verify
    from evaluation.source import open_source

    assert conf.verify is not None
    run_dir = run_of(conf.verify)
    source = open_source(str(run_dir), [])
    result = verify(source.config, run_dir, source.metrics, source.metadata.get("data_hash"))
    print_verification(result)
    return EXIT_PASSED if result.matches and result.data_matches else EXIT_VERIFY_MISMATCH
