"""The default study storage: Optuna's journal file, synced to disk once per trial event.

Optuna's ``JournalFileBackend`` calls ``fsync`` after every record, and a trial writes a dozen
(its params, every report, its attributes), which made the syncs most of the sweeper's own
cost per pruned trial. A record that is written and
flushed is in the kernel's page cache, so a killed process loses nothing of it; only a crash of
the machine can. We therefore sync on the records that start or end a trial or change the
study, which also carry every record written before them to the disk (``fsync`` syncs the
whole file), and leave the others (params, reports, attributes, heartbeats) to the kernel: after
a power loss a study may lose the reports of the trials that were running, which resume fails
and re-runs anyway.

A journal can also be damaged: cut off mid-record (a full disk, a killed writer, a lost
machine) or with something else appended to it. Optuna replays a journal line by line and
stops at the first line that is not a record, and appending after a partial line merges the
next record into it, which damages every later replay. So, under the journal's lock, before a
process first reads the journal and before every append: damage at the end of the file (a
partial record, lines that are not records) is moved to a ``<journal>.damaged-<time>`` file
beside it and cut off, keeping every intact record; damage followed by intact records cannot
be replayed and stops with the file, the line and what to do.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, NoReturn

from optuna.storages.journal import JournalFileBackend

from hydra_plugins.quantsweep_sweeper._internals import (
    journal_durable_ops,
    journal_locked,
    journal_path,
)
from trainer.errors import UserError

log = logging.getLogger(__name__)

DURABLE = journal_durable_ops()


class TrialSyncedJournal(JournalFileBackend):
    """``JournalFileBackend`` with ``fsync`` only on records in ``DURABLE``, which repairs a
    damaged end before it is read or appended to."""

    def __init__(self, file_path: str, lock_obj: Any = None) -> None:
        super().__init__(file_path, lock_obj)
        if os.path.exists(file_path):
            with journal_locked(self):
                repair(Path(file_path))

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        durable = any(log.get("op_code") in DURABLE for log in logs)
        path = journal_path(self)
        with journal_locked(self):
            if not _ends_cleanly(path):  # a writer died mid-record
                repair(Path(path))
            with open(path, "ab") as f:
                f.write(text.encode("utf-8"))
                f.flush()
                if durable:
                    os.fsync(f.fileno())


def _ends_cleanly(path: str) -> bool:
    """Whether the file is empty or ends with a newline (one byte read)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return size == 0 or os.pread(f.fileno(), 1, size - 1) == b"\n"
    except FileNotFoundError:
        return True


def _problem(line: bytes) -> str | None:
    """Why a line (without its newline) is not a journal record; None when it is one."""
    try:
        record = json.loads(line)
    except ValueError:
        return "not a journal record (unreadable JSON)"
    if not isinstance(record, dict) or not isinstance(record.get("op_code"), int):
        return "not a journal record (no op_code)"
    return None


def _refuse_damage_before_records(path: Path, line: int, why: str) -> NoReturn:
    raise UserError(
        f"study journal {path}, line {line}: {why}, and intact records follow it; Optuna"
        f" cannot replay a study past it. Keep the records before it with `head -n {line - 1}"
        f" {path} > {path}.kept && mv {path}.kept {path}` (the trials recorded after it are"
        " lost), or start a new study with another hydra.sweeper.study_name"
    )


def repair(path: Path) -> None:
    """Cut a damaged end off a journal, keeping every intact record; raise on damage that
    intact records follow. Call under the journal's lock."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # after the last newline: b"" when the file ends cleanly
    offset, bad_at, bad_line, why = 0, -1, 0, ""
    for number, line in enumerate(lines, start=1):
        problem = _problem(line)
        if problem is None and bad_at >= 0:
            _refuse_damage_before_records(path, bad_line, why)
        if problem is not None and bad_at < 0:
            bad_at, bad_line, why = offset, number, problem
        offset += len(line) + 1
    if bad_at >= 0 and tail and _problem(tail) is None:
        _refuse_damage_before_records(path, bad_line, why)
    if bad_at < 0 and tail and _problem(tail) is None:
        # a whole record whose newline was not written: intact, so it is kept
        with open(path, "ab") as f:
            f.write(b"\n")
            os.fsync(f.fileno())
        log.warning(
            "study journal %s: completed line %d (its newline was missing)", path, len(lines) + 1
        )
        return
    if bad_at < 0 and not tail:
        return
    if bad_at < 0:
        bad_at, bad_line, why = offset, len(lines) + 1, "a partial record (cut off mid-line)"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    with open(aside, "ab") as f:
        f.write(data[bad_at:])
        os.fsync(f.fileno())
    with open(path, "r+b") as f:
        f.truncate(bad_at)
        os.fsync(f.fileno())
    log.warning(
        "study journal %s, line %d: %s; kept the %d intact records before it and moved the"
        " rest (%d bytes) to %s",
        path,
        bad_line,
        why,
        bad_line - 1,
        len(data) - bad_at,
        aside,
    )
