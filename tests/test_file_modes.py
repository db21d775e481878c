"""Every file quantsweep writes has the mode of any other new file: 0666 less the umask.

(``tempfile`` creates 0600 files, which teammates and services on a shared file system could
not read beside a model they can.)
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trainer.atomic import atomic_write, atomic_write_json, current_umask

UMASKS = [0o022, 0o027, 0o002, 0o077]


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


@pytest.mark.parametrize("umask", UMASKS, indirect=True, ids=oct)
@pytest.mark.parametrize(
    "content", [b"bytes", "text", lambda fh: fh.write(b"by a writer")], ids=["bytes", "text", "fn"]
)
def test_an_atomic_write_honours_the_umask(tmp_path: Path, umask: int, content: object) -> None:
    path = tmp_path / "sub" / "file.json"
    atomic_write(path, content)  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert current_umask() == umask  # read without being changed
    assert [p.name for p in path.parent.iterdir()] == ["file.json"]  # no temporary file left


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"a": 1})

    def broken(fh: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)  # type: ignore[arg-type]
    assert path.read_text() == '{\n  "a": 1\n}\n' and len(list(tmp_path.iterdir())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_every_file_of_a_run_and_a_study_honours_the_umask(tmp_path: Path, mask: int) -> None:
    args = [
        "progress=false",
        "data.start=2022-01-01",
        "data.end=2022-12-31",
        "model.n_estimators=5",
        "hydra.sweeper.n_trials=1",
        "hydra.sweeper.reproduce_seeds=0",
        "-m",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(mask),  # the child only: this process keeps its umask
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()]
    names = {p.name for p in files}
    assert {"metadata.json", "metrics.json", "summary.json", "importances.png"} <= names
    wrong = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    wrong = {k: v for k, v in wrong.items() if v != oct(0o666 & ~mask)}
    assert wrong == {}
