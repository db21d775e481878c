"""Nothing read from disk is unpickled: the packages never call pickle, joblib.load, or
torch.load without weights_only=True."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trainer", "evaluation", "hydra_plugins")
FORBIDDEN = [
    (re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle)\b"), "imports a pickle module"),
    (re.compile(r"\b(c?pickle|dill|cloudpickle)\.loads?\("), "calls pickle.load"),
    (re.compile(r"\bjoblib\.load\("), "calls joblib.load"),
    (re.compile(r"\bnp\.load\([^)]*allow_pickle\s*=\s*True"), "np.load with allow_pickle=True"),
    (re.compile(r"\bpd\.read_pickle\("), "calls pandas.read_pickle"),
]
TORCH_LOAD = re.compile(r"\btorch\.load\((?P<args>[^)]*)\)", re.S)


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def scan(text: str) -> list[str]:
    """The reasons a source text is unsafe (empty when safe)."""
    found = [why for line in text.splitlines() for rx, why in FORBIDDEN if rx.search(line)]
    for m in TORCH_LOAD.finditer(text):
        if not re.search(r"weights_only\s*=\s*True", m.group("args")):
            found.append("torch.load without weights_only=True")
    return found


def test_the_packages_never_unpickle_anything() -> None:
    offenders = {str(p.relative_to(ROOT)): scan(p.read_text()) for p in _sources()}
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(offenders) > 10  # the scan really read the packages


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "data = pickle.load(fh)",
        "m = joblib.load(path)",
        "state = torch.load(path)",
        "state = torch.load(path, weights_only=False)",
        "x = np.load(p, allow_pickle=True)",
    ],
)
def test_the_scan_catches_each_unsafe_pattern(snippet: str) -> None:
    assert scan(snippet)


def test_the_scan_accepts_safe_torch_loading() -> None:
    assert scan("state = torch.load(path, map_location='cpu', weights_only=True)") == []
