"""What a re-run of ``python -m evaluation.campaign`` may reuse: the decisions and their inputs.

A campaign keeps ``artifacts/campaigns/<name>/state.json``: for every step it finished, the
fingerprint of its inputs. A step is redone when its fingerprint changed or its outputs are no
longer what it left:

- a study is finished when its inputs (the trainer command and the data hash) are those it
  finished with, its ``summary.json`` counts the budget spent with no trial running, and no
  trial was written to its journal after that summary;
- an evaluation is reused when its inputs (every file of the evaluated run by sha256, the data
  hash and the evaluation's arguments) are unchanged and its report is still the one it wrote;
- an ensemble run is reused when its trainer command and data hash are unchanged and its
  run directory is complete.

The decisions are pure functions (tested with tables); the rest reads and writes the state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.atomic import atomic_write_json

STATE_FILE = "state.json"


@dataclass(frozen=True)
class Decision:
    redo: bool
    reason: str  # why redo, or what is reused


def fingerprint(**parts: Any) -> str:
    """sha256 of the parts as canonical JSON."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (symlinks followed), by relative path."""
    base = root.resolve()
    out: dict[str, str] = {}
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[str(path.relative_to(base))] = h.hexdigest()
    return out


def study_decision(
    recorded: str | None,
    current: str,
    summary: Mapping[str, Any] | None,
    budget: int,
    journal_after_summary: bool,
) -> Decision:
    """Run (or resume) the study, or take it as finished."""
    if recorded != current:
        return Decision(True, "new" if recorded is None else "its inputs changed")
    if summary is None:
        return Decision(True, "no summary.json")
    counts = summary.get("counts") or {}
    done = int(counts.get("complete", 0)) + int(counts.get("pruned", 0))
    if int(counts.get("running", 0)):
        return Decision(True, f"{counts['running']} trial(s) left running")
    if done < budget:
        return Decision(True, f"{done} of {budget} trials")
    if journal_after_summary:
        return Decision(True, "trials written after its summary")
    return Decision(False, f"finished ({done} trials)")


def evaluation_decision(
    recorded: Mapping[str, Any] | None, current: str, report: Mapping[str, Any] | None
) -> Decision:
    """Re-evaluate, or reuse the report the same inputs produced."""
    if recorded is None:
        return Decision(True, "new")
    if recorded.get("fingerprint") != current:
        return Decision(True, "its run, data or settings changed")
    if report is None:
        return Decision(True, "its report is missing")
    if report.get("created") != recorded.get("created"):
        return Decision(True, "its report was replaced since")
    return Decision(False, f"reused (evaluated {recorded.get('created')})")


def run_decision(recorded: str | None, current: str, complete: bool) -> Decision:
    """Train (the ensemble run) again, or reuse the run directory."""
    if recorded != current:
        return Decision(True, "new" if recorded is None else "its members or inputs changed")
    if not complete:
        return Decision(True, "its run directory is incomplete")
    return Decision(False, "reused")


class State:
    """``state.json`` of a campaign: per step kind, per name, what it finished with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"studies": {}, "evaluations": {}, "runs": {}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except ValueError:
                loaded = None  # a torn write cannot happen (atomic); anything else: start over
            if isinstance(loaded, dict):
                for key in self.data:
                    if isinstance(loaded.get(key), dict):
                        self.data[key] = loaded[key]

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        value = self.data[kind].get(name)
        return value if isinstance(value, dict) else None

    def put(self, kind: str, name: str, record: dict[str, Any]) -> None:
        self.data[kind][name] = record
        atomic_write_json(self.path, self.data)

    def seconds(self, names: Sequence[str]) -> float:
        """Time spent on these steps over every session."""
        total = 0.0
        for kind in self.data.values():
            for name, record in kind.items():
                if name in names and isinstance(record, dict):
                    total += float(record.get("seconds", 0.0))
        return total
