"""The console's languages: zh-CN by default, English one click away.

Every string a page shows comes from the gettext catalogs under ``locale/``
(domain ``console``; message ids are English). The language of a request is,
in order: the switch (a link to ``/lang/<code>``, which sets a cookie), that
cookie, then ``Accept-Language``, then zh-CN. Dates are shown in China
Standard Time, numbers and money per locale (Babel's CLDR data: ``¥``, and
``万``/``亿`` for large numbers in zh-CN).

The ``.po`` files are the source; the ``.mo`` files beside them are compiled
from them and committed, so a bare checkout works without a build step
(``scripts/console_messages.py`` extracts, updates and compiles them; a test
checks that they agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_compact_decimal, format_currency, format_decimal
from babel.support import Translations

from datacompact.clock import CST

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "console"
#: The languages the console speaks: cookie/URL code -> (gettext locale, HTML lang).
LANGUAGES: dict[str, tuple[str, str]] = {"zh-CN": ("zh_CN", "zh-CN"), "en": ("en", "en")}
DEFAULT = "zh-CN"
COOKIE = "dc_lang"

__all__ = [
    "COOKIE",
    "DEFAULT",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "Formats",
    "choose",
    "translations",
]


@cache
def translations(code: str) -> Translations:
    """The compiled catalog of a language code (``zh-CN`` or ``en``)."""
    locale, _ = LANGUAGES[code]
    loaded = Translations.load(str(LOCALE_DIR), [locale], domain=DOMAIN)
    if not isinstance(loaded, Translations):  # a missing .mo loads as NullTranslations
        raise RuntimeError(f"the console's {locale} catalog is missing under {LOCALE_DIR}")
    return loaded


def _from_accept(header: str) -> str | None:
    """The first supported language of an ``Accept-Language`` header, by its q weights."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, position, tag.strip().lower()))
    for negative, _, tag in sorted(weighted):
        if negative >= 0:
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return None


def choose(*, switch: str | None, cookie: str | None, accept: str | None) -> str:
    """The language of a request: the switch, then the cookie, then Accept-Language.

    >>> choose(switch=None, cookie=None, accept="en-GB,en;q=0.9")
    'en'
    >>> choose(switch=None, cookie="zh-CN", accept="en")
    'zh-CN'
    >>> choose(switch=None, cookie="xx", accept="fr, en;q=0.5")
    'en'
    >>> choose(switch=None, cookie=None, accept=None)
    'zh-CN'
    """
    for candidate in (switch, cookie):
        if candidate in LANGUAGES:
            return candidate
    return (_from_accept(accept) if accept else None) or DEFAULT


@dataclass(frozen=True)
class Formats:
    """Dates, numbers and money in one language, for the templates."""

    code: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(LANGUAGES[self.code][0])

    def day(self, moment: datetime) -> str:
        """The day of a moment in China Standard Time (ISO, the same in every language).

        >>> from datetime import UTC
        >>> Formats("en").day(datetime(2026, 1, 2, 16, 30, tzinfo=UTC))
        '2026-01-03'
        """
        return moment.astimezone(CST).date().isoformat()

    def datetime(self, moment: datetime | None) -> str:
        """A moment in China Standard Time, as the language writes it.

        >>> from datetime import UTC
        >>> Formats("en").datetime(datetime(2026, 1, 2, 16, 30, tzinfo=UTC))
        '2026-01-03 00:30 CST'
        """
        if moment is None:
            return "—"
        return format_datetime(moment.astimezone(CST), "yyyy-MM-dd HH:mm", locale=self.locale) + (
            " CST" if self.code == "en" else "（北京时间）"
        )

    def number(self, value: int | float | Decimal | None) -> str:
        """A number; large ones compact in zh-CN (万, 亿).

        >>> Formats("zh-CN").number(123456789)
        '1.2亿'
        >>> Formats("en").number(123456789)
        '123,456,789'
        """
        if value is None:
            return "—"
        if self.code == "zh-CN" and abs(Decimal(value)) >= 100_000:
            return format_compact_decimal(value, locale=self.locale, fraction_digits=1)
        return format_decimal(value, locale=self.locale)

    def money(self, value: int | float | Decimal | None) -> str:
        """An amount in yuan.

        >>> Formats("zh-CN").money(Decimal("1234.5"))
        '¥1,234.50'
        """
        if value is None:
            return "—"
        return format_currency(value, "CNY", locale=self.locale)
