"""python benchmarks/features.py — wall time and peak memory of the feature build.

On the 6-year synthetic market (2020-2025, every role: price, futures, funding, macro,
on-chain) with the default feature config. Prints JSON: the median wall time of
``build_features`` over a few runs, and its peak memory beyond what was held before the call,
as measured two ways: the process RSS sampled every 0.5 ms during the first build, and
numpy/pandas allocations traced by ``tracemalloc``; both against the output matrix's size.
Goals (issue 3): under 1 s, and peak memory at most 3x the output matrix.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import statistics
import threading
import time
import tracemalloc
from pathlib import Path

from trainer.data.config import FeaturesConfig
from trainer.data.features import build_features
from trainer.data.synthetic import generate_market

PAGE = 4096


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


class RssPeak:
    """Samples the resident set size in a thread while the block runs."""

    def __enter__(self) -> RssPeak:
        self.base = rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.0005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc), so the RSS baseline is honest."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def main() -> None:
    market = generate_market()
    cfg = FeaturesConfig()

    # RSS first, before other builds leave freed pages in the allocator's heap.
    gc.collect()
    _trim_heap()
    with RssPeak() as rss:
        out = build_features(market, cfg)
    output_bytes = out.to_numpy().nbytes
    shape = out.shape
    del out

    times = []
    for _ in range(5):
        gc.collect()
        t0 = time.perf_counter()
        out = build_features(market, cfg)
        times.append(time.perf_counter() - t0)
        del out

    gc.collect()
    tracemalloc.start()
    build_features(market, cfg)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    mb = 1 / 2**20
    print(
        json.dumps(
            {
                "market_rows": len(market),
                "market_columns": market.shape[1],
                "features": shape[1],
                "output_matrix_mb": round(output_bytes * mb, 2),
                "wall_s_median": round(statistics.median(times), 4),
                "wall_s_runs": [round(t, 4) for t in times],
                "traced_peak_mb": round(traced_peak * mb, 2),
                "traced_peak_over_output": round(traced_peak / output_bytes, 3),
                "rss_peak_extra_mb": round((rss.peak - rss.base) * mb, 2),
                "rss_peak_extra_over_output": round((rss.peak - rss.base) / output_bytes, 3),
                "goal_wall_s": 1.0,
                "goal_peak_over_output": 3.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
