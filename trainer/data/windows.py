"""Fixed-length windows over one part's feature rows, as index arithmetic and views.

Used by the sequence learners (``trainer.learners.sequence``). A window of length ``L`` ending
at row ``i`` covers rows ``i-L+1 .. i`` and is labelled with ``y[i]``, the label at its last
hour. It is valid only if all its rows lie in one run of consecutive hours: it never starts
before the part (so never crosses a split boundary) and never spans a data gap.

Nothing here copies more than one batch: ``windows_view`` is a strided view over the matrix
(materialising every window would cost ``L`` times the matrix), and ``window_batch`` gathers
only the windows asked for.
"""

from __future__ import annotations

import numpy as np


def run_ids(segment: np.ndarray) -> np.ndarray:
    """(n,) int64 id of each row's run of equal consecutive ``segment`` values, 0, 1, ...

    Comparing run ids (not raw segment ids) keeps a window inside one run even if a segment
    id were reused after a gap.
    """
    segment = np.asarray(segment)
    if segment.size == 0:
        return np.zeros(0, dtype=np.int64)
    runs = np.zeros(segment.size, dtype=np.int64)
    np.cumsum(segment[1:] != segment[:-1], out=runs[1:])  # no int64 temporaries beyond runs
    return runs


def valid_window_ends(segment: np.ndarray, length: int, stride: int = 1) -> np.ndarray:
    """Rows ``i`` at which a full window of ``length`` rows ends, every ``stride``-th.

    (n_windows,) int64, increasing. ``stride > 1`` thins training windows (cheaper epochs on a
    CPU); prediction uses stride 1 so every row with enough history gets a score.
    """
    if length < 1 or stride < 1:
        raise ValueError(f"length={length} and stride={stride} must be >= 1")
    runs = run_ids(segment)
    n = runs.size
    if n < length:
        return np.zeros(0, dtype=np.int64)
    ends: np.ndarray = np.arange(length - 1, n, dtype=np.int64)
    ends = ends[runs[ends - length + 1] == runs[ends]]
    return ends[::stride]


def longest_run(segment: np.ndarray) -> int:
    """Length of the longest run of consecutive rows (the longest window possible)."""
    runs = run_ids(segment)
    return int(np.bincount(runs).max()) if runs.size else 0


def window_rows(ends: np.ndarray, length: int) -> np.ndarray:
    """(n_windows, length) int64 row indices of each window, oldest hour first."""
    return np.asarray(ends, dtype=np.int64)[:, None] + np.arange(1 - length, 1, dtype=np.int64)


def windows_view(X: np.ndarray, length: int) -> np.ndarray:
    """Every window of ``X`` as a read-only view: (n - length + 1, length, n_features).

    Window ``k`` ends at row ``k + length - 1``. No data is copied.
    """
    # sliding_window_view puts the window axis last: (n-L+1, f, L) -> (n-L+1, L, f)
    return np.lib.stride_tricks.sliding_window_view(X, length, axis=0).transpose(0, 2, 1)


def window_batch(X: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """The windows ending at ``ends``, copied into one (batch, length, n_features) array."""
    return windows_view(X, length)[np.asarray(ends, dtype=np.int64) - (length - 1)]
