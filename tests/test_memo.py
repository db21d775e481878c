"""The per-process memo of prepared folds and library data: bounded, least recently used."""

from __future__ import annotations

from trainer.memo import Memo


def _memo(max_entries: int = 3, max_bytes: int = 100) -> tuple[Memo[int], list[str]]:
    built: list[str] = []
    return Memo(max_entries, max_bytes, size_of=lambda v: v), built


def _get(memo: Memo[int], built: list[str], key: str, size: int) -> int:
    def build() -> int:
        built.append(key)
        return size

    return memo.get(key, build)


def test_a_kept_value_is_built_once() -> None:
    memo, built = _memo()
    assert _get(memo, built, "a", 10) == 10
    assert _get(memo, built, "a", 99) == 10
    assert built == ["a"]


def test_the_least_recently_used_entry_goes_first_when_entries_run_out() -> None:
    memo, built = _memo(max_entries=2)
    for key in ("a", "b", "a", "c"):  # "a" was used after "b": "b" goes
        _get(memo, built, key, 1)
    _get(memo, built, "a", 1)
    _get(memo, built, "b", 1)
    assert built == ["a", "b", "c", "b"]


def test_entries_go_when_their_bytes_exceed_the_budget_but_the_newest_stays() -> None:
    memo, built = _memo(max_entries=10, max_bytes=100)
    _get(memo, built, "a", 60)
    _get(memo, built, "b", 60)  # 120 bytes: "a" goes
    assert len(memo) == 1
    _get(memo, built, "huge", 500)  # over budget alone, and still kept for its caller
    assert len(memo) == 1
    _get(memo, built, "huge", 500)
    assert built == ["a", "b", "huge"]
