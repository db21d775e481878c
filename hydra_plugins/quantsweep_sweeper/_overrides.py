"""A trial's ``key=value`` overrides, parsed without Hydra's ANTLR parser when they are simple.

Hydra's ``OverridesParser`` takes about 0.2 ms an override: 2 ms of every trial, whose overrides
are all of the form ``model.max_depth=5``, ``model.learning_rate=0.0123``,
``trial.storage=/abs/path/journal.log``. ``parse`` builds the same ``Override`` objects directly
for a dotted key and a value made only of characters that, in Hydra's grammar
(``hydra/grammar/OverrideLexer.g4``), can only form one unquoted primitive; anything else (sweeps,
``+``/``~``, ``@package``, quotes, escapes, interpolations, lists, dicts, functions, spaces) goes
to Hydra's parser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType

# KEY_ID / DOT_PATH of the key mode, without `$` and without list indices
_KEY = r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*"
# Each of these characters alone is a token of an unquoted primitive (ID, INT, UNQUOTED_CHAR,
# COLON), so a value made of them lexes into primitive tokens only, with no quote, escape,
# interpolation, whitespace, bracket, brace, parenthesis, comma or `=` among them.
_VALUE = r"[A-Za-z0-9_+\-./%*@?|:]+"
_SIMPLE = re.compile(rf"(?P<key>{_KEY})=(?P<value>{_VALUE})")

# The value-mode number and keyword tokens, as the grammar writes them
_DIGITS = r"[0-9](?:_?[0-9])*"
_INT_UNSIGNED = r"(?:0|[1-9](?:_?[0-9])*)"
_POINT_FLOAT = rf"(?:{_INT_UNSIGNED}\.|{_INT_UNSIGNED}?\.{_DIGITS})"
_EXPONENT_FLOAT = rf"(?:{_INT_UNSIGNED}|{_POINT_FLOAT})[eE][+-]?{_DIGITS}"
_FLOAT = re.compile(rf"[+-]?(?:{_POINT_FLOAT}|{_EXPONENT_FLOAT}|[Ii][Nn][Ff]|[Nn][Aa][Nn])")
_INT = re.compile(rf"[+-]?{_INT_UNSIGNED}")
_BOOL = re.compile(r"[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]")
_NULL = re.compile(r"[Nn][Uu][Ll][Ll]")


def primitive(text: str) -> int | float | bool | str | None:
    """The value Hydra gives an unquoted primitive of ``_VALUE`` characters.

    One token (the whole text) is converted by its type, the lexer preferring FLOAT, then INT,
    BOOL, NULL (rule order, on a tie in length); several tokens are joined back into the text.
    """
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INT.fullmatch(text):
        return int(text)
    if _BOOL.fullmatch(text):
        return text.lower() == "true"
    if _NULL.fullmatch(text):
        return None
    return text


def simple(line: str, parser: OverridesParser) -> Override | None:
    """``line`` as ``parser.parse_overrides`` would give it, if it is a simple ``key=value``."""
    match = _SIMPLE.fullmatch(line)
    if match is None:
        return None
    try:
        value = primitive(match["value"])
    except ValueError:  # a number Python will not read: Hydra's parser reports it
        return None
    return Override(
        type=OverrideType.CHANGE,
        key_or_group=match["key"],
        value_type=ValueType.ELEMENT,
        _value=value,
        package=None,
        input_line=line,
        config_loader=parser.config_loader,
    )


def parse(lines: Sequence[str], parser: OverridesParser) -> list[Override]:
    """``parser.parse_overrides(lines)``, with the simple lines parsed here.

    The parser takes each line on its own, so the first line it cannot parse raises the same
    error as when it is given them all.
    """
    parsed = []
    for line in lines:
        override = simple(line, parser)
        if override is None:
            (override,) = parser.parse_overrides([line])
        parsed.append(override)
    return parsed
