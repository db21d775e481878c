"""Running one step of a campaign: a ``python -m trainer`` or ``python -m evaluation`` child.

Each step runs the same command a user would type, in a child process whose output goes to
``artifacts/campaigns/<name>/logs/<step>.log``. The child dies with the campaign (Linux: the
parent-death signal), and a campaign stopped by Ctrl-C or SIGTERM interrupts its child and
waits for it, so a study never keeps running unseen beside a resumed campaign.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

STOP_GRACE_S = 30.0  # a child's time to finish its trial bookkeeping after an interrupt


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_module(module: str, args: list[str], log: Path) -> int:
    """``python -m module args``, output appended to ``log``; its exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", module, *args]
    with open(log, "ab") as fh:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        fh.write(f"\n=== {stamp} {shlex.join(cmd[1:])}\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        try:
            while proc.poll() is None:
                time.sleep(0.1)
        except BaseException:
            _stop(proc)
            raise
    return int(proc.returncode)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def error_line(log: Path) -> str:
    """What a failed child said: its last ``error:`` line, else its last line."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    errors = [ln for ln in lines if ln.startswith("error:")]
    text = errors[-1] if errors else (lines[-1] if lines else "no output")
    return text.removeprefix("error:").strip()[:300]


def raise_on_sigterm() -> None:
    """SIGTERM ends the campaign like Ctrl-C: the running child is interrupted and awaited."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
