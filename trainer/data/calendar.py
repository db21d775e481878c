"""Trading calendars: which hours of the week a market is open (``data.calendar``).

    python -m trainer data=csv data.path=eurusd_1h.csv data.calendar=fx

A calendar is a set of weekly closures in UTC (``24/7``: none; ``fx``: Friday 22:00 to Sunday
22:00). Scheduled-closed hours are not rows of the market table and not gaps: every
computation that counts hours (feature windows, z-scores, labels, the forward-fill limit, the
embargo between split parts) counts *open* hours, through the **open-hour clock**: the number
of open hours since a fixed origin. Consecutive open hours differ by exactly 1 on that clock,
across a closure too, so a jump of more than 1 between two rows is an unscheduled gap. For
``24/7`` the clock is the hour count itself (plus a constant), so nothing changes.

Each closure lasts a whole multiple of 4 hours, the longest label horizon: then a row's open
clock and its clock hour agree modulo 4, so the 4h strategy, which decides on rows where
``hour % 4 == 0``, still opens a position every 4th open hour and holds it for exactly the
4 open hours its label spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from trainer.errors import UserError

HOUR_NS = 3_600_000_000_000
WEEK = 168
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# 1970-01-01 00:00 UTC, the origin of epoch hours, was a Thursday: hour 72 of its week.
_EPOCH_HOUR_OF_WEEK = 3 * 24
# Every closure lasts a multiple of the longest label horizon (see the module doc).
ALIGN_HOURS = 4
NAMES = ("24/7", "fx", "weekly")
_SPEC = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}):00\s*$")


@dataclass(frozen=True)
class Calendar:
    """Weekly closures as (first closed hour of the week, hours closed); Monday 00:00 UTC = 0."""

    name: str = "24/7"
    closures: tuple[tuple[int, int], ...] = ()

    @property
    def always_open(self) -> bool:
        return not self.closures

    @cached_property
    def _open(self) -> np.ndarray:
        """(168,) bool: is each hour of the week open."""
        is_open = np.ones(WEEK, dtype=bool)
        for start, hours in self.closures:
            is_open[(start + np.arange(hours)) % WEEK] = False
        return is_open

    @cached_property
    def _before(self) -> np.ndarray:
        """(169,) int64: open hours of the week before each hour of the week (and the total)."""
        return np.concatenate(([0], np.cumsum(self._open))).astype(np.int64)

    @cached_property
    def _open_hours(self) -> np.ndarray:
        """(open per week,) int64: the hours of the week that are open, in order."""
        return np.flatnonzero(self._open).astype(np.int64)

    def is_open(self, hours: np.ndarray) -> np.ndarray:
        """(n,) bool for (n,) int64 epoch hours."""
        if self.always_open:
            return np.ones(np.shape(hours), dtype=bool)
        return np.asarray(self._open[hour_of_week_of(hours)])

    def clock(self, hours: np.ndarray) -> np.ndarray:
        """Open-hour clock of (n,) int64 epoch hours: open hours since the origin, (n,) int64.

        A closed hour gets the clock of the next open hour (the hours before it are counted).
        """
        hours = np.asarray(hours, dtype=np.int64)
        if self.always_open:
            return hours
        week, hour = np.divmod(hours + _EPOCH_HOUR_OF_WEEK, WEEK)
        return np.asarray(week * self._before[-1] + self._before[hour])

    def hours_at(self, clock: np.ndarray) -> np.ndarray:
        """Inverse of ``clock`` on open hours: the epoch hour of each open-clock value."""
        clock = np.asarray(clock, dtype=np.int64)
        if self.always_open:
            return clock
        week, k = np.divmod(clock, self._before[-1])
        return np.asarray(week * WEEK + self._open_hours[k] - _EPOCH_HOUR_OF_WEEK)

    def clock_at(self, t: pd.Timestamp) -> int:
        """Open clock of the first hour at or after ``t`` (a UTC timestamp, any minute)."""
        ns = pd.Timestamp(t).as_unit("ns").value
        return int(self.clock(np.array([-(-ns // HOUR_NS)], dtype=np.int64))[0])

    def describe(self) -> str:
        if self.always_open:
            return "open every hour"
        spans = ", ".join(f"{weekday_hour(s)} to {weekday_hour(s + h)}" for s, h in self.closures)
        return f"closed {spans} UTC"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "closures": [
                {"start": weekday_hour(s), "end": weekday_hour(s + h)} for s, h in self.closures
            ],
        }


def calendar_from_json(data: object, key: str) -> Calendar:
    """The calendar ``Calendar.to_json`` wrote (24/7 when ``data`` is None: older files)."""
    if data is None:
        return ALWAYS_OPEN
    if not isinstance(data, dict) or not isinstance(data.get("closures", []), list):
        raise UserError(f"{key}: not a calendar ({data!r})")
    spans = [(str(c.get("start")), str(c.get("end"))) for c in data.get("closures", [])]
    name = str(data.get("name"))
    return make_calendar(name, spans if name == "weekly" else [], key)


ALWAYS_OPEN = Calendar()
FX = Calendar("fx", ((4 * 24 + 22, 48),))  # Friday 22:00 to Sunday 22:00 UTC


def epoch_hours(index: pd.Index) -> np.ndarray:
    """Whole hours since the epoch, int64 (the index is on the hour)."""
    return np.asarray(pd.DatetimeIndex(index).as_unit("ns").asi8, dtype=np.int64) // HOUR_NS


def calendar_of(market: pd.DataFrame) -> Calendar:
    """The calendar a market table was loaded with (``attrs["calendar"]``), else 24/7."""
    cal = market.attrs.get("calendar", ALWAYS_OPEN)
    return cal if isinstance(cal, Calendar) else ALWAYS_OPEN


def hour_of_week_of(hours: np.ndarray) -> np.ndarray:
    """Hour of the week (Monday 00:00 UTC = 0) of (n,) int64 epoch hours."""
    return np.asarray((np.asarray(hours, dtype=np.int64) + _EPOCH_HOUR_OF_WEEK) % WEEK)


def weekday_hour(hour_of_week: int) -> str:
    """'Fri 22:00' for hour 118 of the week."""
    day, hour = divmod(hour_of_week % WEEK, 24)
    return f"{DAYS[day]} {hour:02d}:00"


def hour_of_week(text: str, key: str) -> int:
    """'Fri 22:00' (a weekday and a whole hour, UTC) -> hours since Monday 00:00."""
    m = _SPEC.match(str(text))
    day = m.group(1).capitalize() if m else ""
    if m is None or day not in DAYS or not 0 <= int(m.group(2)) <= 23:
        raise UserError(
            f"{key}={text!r}: must be a weekday and a whole UTC hour, such as 'Fri 22:00'"
        )
    return DAYS.index(day) * 24 + int(m.group(2))


def make_calendar(name: str, closures: list[tuple[str, str]], key: str = "data") -> Calendar:
    """The calendar of ``data.calendar`` and ``data.closures`` ((start, end) texts).

    UserError naming the key when a closure is malformed, too short to keep 4h positions
    aligned, or overlaps another."""
    if name not in NAMES:
        raise UserError(f"{key}.calendar={name!r}: must be one of {', '.join(NAMES)}")
    if name != "weekly":
        if closures:
            raise UserError(
                f"{key}.closures is set but {key}.calendar={name}; set {key}.calendar=weekly to"
                " use your own closures"
            )
        return ALWAYS_OPEN if name == "24/7" else FX
    if not closures:
        raise UserError(
            f"{key}.calendar=weekly needs {key}.closures, such as"
            " [{start: 'Fri 22:00', end: 'Sun 22:00'}]"
        )
    spans: list[tuple[int, int]] = []
    for i, (start_text, end_text) in enumerate(closures):
        start = hour_of_week(start_text, f"{key}.closures[{i}].start")
        end = hour_of_week(end_text, f"{key}.closures[{i}].end")
        hours = (end - start) % WEEK
        if hours == 0:
            raise UserError(
                f"{key}.closures[{i}]: starts and ends at {start_text}; a closure lasts 4 to 164"
                " hours"
            )
        if hours % ALIGN_HOURS:
            raise UserError(
                f"{key}.closures[{i}] ({start_text} to {end_text}) lasts {hours} hours; a"
                f" closure must last a multiple of {ALIGN_HOURS} hours so that 4h positions stay"
                " 4 open hours long (a shorter break, such as a daily hour, is better left as"
                " missing hours that data.max_ffill_hours fills)"
            )
        spans.append((start, hours))
    cal = Calendar("weekly", tuple(sorted(spans)))
    if int(cal._open.sum()) == 0:
        raise UserError(f"{key}.closures: the market is never open")
    if int((~cal._open).sum()) != sum(h for _, h in spans):
        raise UserError(f"{key}.closures: two closures overlap; merge them into one")
    return cal
