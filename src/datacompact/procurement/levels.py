"""How qualification levels, which are free text, compare (资质等级比较).

A lot requires ``{"name", "min_level"}``; a participant holds
:class:`~datacompact.store.models.Qualification` rows with a ``level`` string.
Levels are read in one of four forms, and only levels of the same form
compare; anything else is "not comparable", hence not met:

==========  ===========================================  ==========================
form        examples                                     order
==========  ===========================================  ==========================
``grade``   丙级, 乙级, 甲级, 特级                        丙 < 乙 < 甲 < 特
``ordinal`` 一级 … 九级 (Chinese numerals + 级)           九级 < … < 一级 (一级 is
                                                          the top, as in ITSS and
                                                          construction schemes)
``number``  CS4, CMMI 5, level 3, 3级 (first ASCII        higher number is stronger
            digits in the text)
``text``    certified, 认证                               equal (case-folded) only
==========  ===========================================  ==========================

>>> meets("甲级", "乙级"), meets("二级", "一级"), meets("CS5", "CS3"), meets("CS3", "甲级")
(True, False, True, False)
>>> steps_above("CMMI 5", "CMMI 3")
2
"""

from __future__ import annotations

import re
from typing import Literal

Form = Literal["grade", "ordinal", "number", "text"]

_GRADES = {"丙级": 1, "乙级": 2, "甲级": 3, "特级": 4}
_NUMERALS = "一二三四五六七八九"
_ORDINAL = re.compile(f"([{_NUMERALS}])级")
_DIGITS = re.compile(r"[0-9]+")


def level_key(level: str) -> tuple[Form, int | str]:
    """The form of ``level`` and its comparable value (higher is stronger)."""
    text = " ".join(level.split())
    for word, value in _GRADES.items():
        if word in text:
            return "grade", value
    if match := _ORDINAL.search(text):
        # 一级 is the strongest: invert so that higher values stay stronger.
        return "ordinal", 10 - (_NUMERALS.index(match.group(1)) + 1)
    if match := _DIGITS.search(text):
        return "number", int(match.group())
    return "text", text.casefold()


def steps_above(held: str, required: str) -> int | None:
    """How many levels ``held`` is above ``required``; None when below or not comparable."""
    held_form, held_value = level_key(held)
    form, value = level_key(required)
    if held_form != form:
        return None
    if isinstance(held_value, int) and isinstance(value, int):
        return held_value - value if held_value >= value else None
    return 0 if held_value == value else None


def meets(held: str, required: str) -> bool:
    return steps_above(held, required) is not None


def name_key(name: str) -> str:
    """Qualification names match case-insensitively, whitespace folded."""
    return " ".join(name.casefold().split())
