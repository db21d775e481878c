"""What the trials of a sweep share in one process: the table, each fold's prepared parts, and
the libraries' data objects built on those parts.

The sweeper's warm-up (``trainer.tuning.warm_up``) creates one ``TrialCache`` in each process
that runs trials and every job there hands it to ``train(..., cache=)``. A single run or an
evaluation has none and builds everything afresh. Every trial of a study gets the same
read-only parts and only changes the learner's params, so re-using them gives the same models
(tested); only the time to cut, scale and bin the data is saved.

The parts of a kept fold carry a ``library`` dict where learners keep their library's objects
built on them (XGBoost's DMatrix with its histogram index, LightGBM's binned Dataset:
``trainer.learners.library_data``); they go with the fold when it is evicted.
"""

from __future__ import annotations

from dataclasses import replace

from trainer.data.config import DataConfig, FeaturesConfig
from trainer.dataset import Prepared, Table, build_table, prepare, table_key
from trainer.memo import Memo
from trainer.splits import Fold


class TrialCache:
    """One data config's table and its prepared folds, least recently used first out.

    ``share_folds=False`` keeps the table only: each trial prepares its fold and builds its
    library objects again (what ``benchmarks/trial_reuse.py`` measures against).
    """

    def __init__(
        self,
        max_folds: int = 64,  # the folds of a walk-forward split, monthly ones included
        max_bytes: int = 1 << 30,  # parts and the library objects on them (~2x the parts)
        share_folds: bool = True,
    ) -> None:
        self.share_folds = share_folds
        self._table: tuple[str, Table] | None = None
        self._folds: Memo[Prepared] = Memo(max_folds, max_bytes, size_of=_bytes_held)

    def table(self, data: DataConfig, features: FeaturesConfig) -> Table:
        """The table of ``data`` and ``features``, built once; another config replaces it."""
        key = table_key(data, features)
        if self._table is None or self._table[0] != key:
            self._table = None  # one table at a time: drop the old one before building
            self._folds.clear()
            self._table = (key, build_table(data, features))
        return self._table[1]

    def prepared(
        self, table: Table, fold: Fold, horizon: int, task: str, constant_tol: float
    ) -> Prepared:
        """``prepare(...)`` of a fold of this cache's table, kept for the next trials."""
        if not self.share_folds or self._table is None or self._table[1] is not table:
            return prepare(table, fold, horizon, task, constant_tol)
        spans = tuple((s.start, s.stop) for s in (fold.train, fold.valid, fold.test))
        key = (fold.name, spans, horizon, task, constant_tol)
        return self._folds.get(
            key, lambda: _shared(prepare(table, fold, horizon, task, constant_tol))
        )

    def __len__(self) -> int:
        """Prepared folds kept."""
        return len(self._folds)


def _shared(p: Prepared) -> Prepared:
    """``p`` with a place on each part for the library objects built on it."""
    parts = {name: replace(getattr(p, name), library={}) for name in ("train", "valid", "test")}
    return replace(p, **parts)


def _bytes_held(p: Prepared) -> int:
    # XGBoost's DMatrix and histogram index are about twice the float32 rows they hold
    return 3 * sum(part.X.nbytes for part in (p.train, p.valid, p.test))
