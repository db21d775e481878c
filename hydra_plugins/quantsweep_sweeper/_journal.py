"""The default study storage: Optuna's journal file, synced to disk once per trial event.

Optuna's ``JournalFileBackend`` calls ``fsync`` after every record, and a trial writes a dozen
(its params, every report, its attributes): 3-30 ms a trial, depending on the disk and its
load, which is most of the sweeper's own cost per pruned trial. A record that is written and
flushed is in the kernel's page cache, so a killed process loses nothing of it; only a crash of
the machine can. We therefore sync on the records that start or end a trial or change the
study, which also carry every record written before them to the disk (``fsync`` syncs the
whole file), and leave the others (params, reports, attributes, heartbeats) to the kernel: after
a power loss a study may lose the reports of the trials that were running, which resume fails
and re-runs anyway.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.storages.journal import JournalFileBackend

from hydra_plugins.quantsweep_sweeper._internals import journal_append, journal_durable_ops

DURABLE = journal_durable_ops()


class TrialSyncedJournal(JournalFileBackend):
    """``JournalFileBackend`` with ``fsync`` only on records in ``DURABLE``."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        journal_append(self, text, sync=any(log.get("op_code") in DURABLE for log in logs))
