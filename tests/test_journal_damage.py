"""A damaged study journal: resume keeps every intact record, or stops with one clear line.

Each case damages a real journal (three finished trials) as a full disk, a killed writer or a
stray redirect would, then opens it as a resumed sweep does and appends to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalStorage

from hydra_plugins.quantsweep_sweeper._journal import TrialSyncedJournal
from trainer.errors import UserError

optuna.logging.set_verbosity(optuna.logging.WARNING)
N_TRIALS = 3


def _study(path: Path, new: bool = False) -> optuna.Study:
    storage = JournalStorage(TrialSyncedJournal(str(path)))
    if new:
        return optuna.create_study(study_name="s", storage=storage)
    return optuna.load_study(study_name="s", storage=storage)


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "journal.log"
    study = _study(path, new=True)
    for i in range(N_TRIALS):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, float(i))
    return path


def _cut_mid_line(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"\n", 0, -1) + 1 + 10])  # 10 bytes of the last record


def _cut_before_newline(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


def _append(text: bytes) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        with open(path, "ab") as f:
            f.write(text)

    return edit


def _records(path: Path) -> int:
    return len(path.read_bytes().splitlines())


# damage at the end: every intact record kept (how many of the original lines), rest set aside
RECOVERED = {
    "cut mid-line": (_cut_mid_line, -1),
    "cut before its newline": (_cut_before_newline, 0),
    "text appended": (_append(b"Traceback (most recent call last):\n  oops\n"), 0),
    "binary garbage appended": (_append(b"\x00\xff\xfe garbage"), 0),
    "a JSON line that is not a record": (_append(b"42\n"), 0),
    "an object without op_code": (_append(b'{"op": 1}\n'), 0),
    "garbage, then a cut record": (_append(b'garbage\n{"op_code": 4, "worker'), 0),
}


@pytest.mark.parametrize("case", RECOVERED, ids=str)
def test_damage_at_the_end_of_a_journal_keeps_every_intact_record(journal: Path, case: str) -> None:
    damage, kept_delta = RECOVERED[case]
    intact = _records(journal)
    damage(journal)
    study = _study(journal)  # resume
    assert _records(journal) == intact + kept_delta
    finished = [t for t in study.get_trials() if t.state.is_finished()]
    assert len(finished) == (N_TRIALS if kept_delta == 0 else N_TRIALS - 1)
    # the resumed study writes after intact records only: a third session replays it all
    study.tell(study.ask(), 9.0)
    again = _study(journal)
    assert len(again.get_trials()) == len(study.get_trials())
    aside = list(journal.parent.glob("journal.log.damaged-*"))
    assert bool(aside) == (case != "cut before its newline")


@pytest.mark.parametrize(
    ("case", "damage", "line"),
    [
        ("garbage in the middle", b"not a record\n", 2),
        ("a partial record merged with the next", b'{"op_code": 4, "wor', 2),
    ],
)
def test_damage_followed_by_intact_records_stops_naming_file_line_and_what_to_do(
    journal: Path, case: str, damage: bytes, line: int
) -> None:
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + damage + b"".join(lines[1:]))
    before = journal.read_bytes()
    with pytest.raises(UserError) as err:
        _study(journal)
    message = str(err.value)
    assert f"study journal {journal}, line {line}:" in message
    assert f"head -n {line - 1} {journal}" in message and "study_name" in message
    assert "\n" not in message
    assert journal.read_bytes() == before  # nothing written after the damage


def test_a_writer_killed_mid_record_is_cut_off_before_the_next_append(journal: Path) -> None:
    study = _study(journal)
    intact = _records(journal)
    with open(journal, "ab") as f:  # another process died while appending
        f.write(b'{"op_code":5,"worker_id":"dead","tri')
    study.tell(study.ask(), 1.0)
    lines = journal.read_bytes().splitlines()
    assert len(lines) > intact and all(json.loads(line)["op_code"] >= 0 for line in lines)
    assert len(_study(journal).get_trials()) == N_TRIALS + 1
