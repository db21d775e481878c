"""The one exception type for mistakes a user can fix: entrypoints print it on one line."""


class UserError(ValueError):
    """Bad config, data or artifact, found before (or instead of) doing work.

    The message names the culprit (key, file, column, row) and what is allowed.
    """


def one_of(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserError(f"{key}={value!r}: must be one of {', '.join(allowed)}")


def at_least(key: str, value: float, low: float) -> None:
    if value < low:
        raise UserError(f"{key}={value}: must be >= {low:g}")


def in_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UserError(f"{key}={value}: must be in [{low:g}, {high:g}]")
