"""What the user asked for, parsed once for the command line and the app.

The query language: free text, ``-word`` / ``-"a phrase"`` / ``-'a phrase'`` negatives,
"like this" images, and filters (a folder, a date range, a minimum score). ``clipdesk search
"red car -night"`` and the app's search bar mean the same thing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime, timedelta
from datetime import time as datetime_time
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin, get_type_hints

# -word, -"a phrase" or -'a phrase': a negative term; everything else is the positive text.
_NEGATIVE = re.compile(r"""(?:^|(?<=\s))-(?:"([^"]+)"|'([^']+)'|([^\s"']+))""")


MEDIA_KINDS = ("photo", "raw", "video")  # what Filters.media may hold (core.scan.media_kind)

QUERY_JSON_VERSION = 1  # the "version" key of Query.to_json; readers ignore keys they lack


def _plain(value):
    """A dataclass, path or tuple as JSON-ready data, field by field: fields added later are
    carried without changes here."""
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _typed(hint, raw):
    """``raw`` JSON data as the type ``hint`` of a dataclass field (Path, tuple, nested
    dataclass, number, text; ``X | None``)."""
    if raw is None:
        return None
    if get_origin(hint) in (Union, UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    if is_dataclass(hint):
        if not isinstance(raw, dict):
            raise ValueError(f"expected an object for {hint.__name__}, got {raw!r}")
        hints = get_type_hints(hint)
        return hint(**{f.name: _typed(hints[f.name], raw[f.name])
                       for f in fields(hint) if f.name in raw})  # missing keys: defaults
    if get_origin(hint) is tuple:
        if not isinstance(raw, list):
            raise ValueError(f"expected a list, got {raw!r}")
        return tuple(_typed(get_args(hint)[0], v) for v in raw)
    if hint is Path:
        return Path(raw)
    if hint is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if hint in (str, int, bool, float) and type(raw) is not hint:
        raise ValueError(f"expected {hint.__name__}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Filters:
    folder: Path | None = None
    after: float | None = None  # Unix times, inclusive
    before: float | None = None
    min_score: float | None = None
    media: str | None = None  # one of MEDIA_KINDS; None keeps every kind

    @property
    def active(self) -> bool:
        return (self.folder is not None or self.after is not None or self.before is not None
                or self.media is not None)


@dataclass(frozen=True)
class Query:
    text: str = ""  # positive text
    negatives: tuple[str, ...] = ()
    images: tuple[str, ...] = ()  # "like this" image paths
    exclude: tuple[str, ...] = ()  # paths left out of the results (the photo of Find similar)
    filters: Filters = field(default_factory=Filters)
    # "not like this" image paths ("Fewer like these", ``--unlike``): subtracted from the
    # query like negative texts, and never shown among the results
    negative_images: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.text and not self.images

    def describe(self) -> str:
        parts = [f"“{self.text}”"] if self.text else []
        if self.images:
            parts.append("like this image" if len(self.images) == 1
                         else f"like these {len(self.images)} images")
        parts += [f"not “{n}”" for n in self.negatives]
        if self.negative_images:
            parts.append("not like this image" if len(self.negative_images) == 1
                         else f"not like these {len(self.negative_images)} images")
        return ", ".join(parts)

    def to_json(self) -> str:
        """The whole query as JSON (a smart album stores this): every field, paths as text,
        and a "version" key."""
        return json.dumps({"version": QUERY_JSON_VERSION, **_plain(self)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Query:
        """A query from ``to_json``'s text, of this version or another: keys this version does
        not know are ignored, missing ones take their defaults. Raises ValueError when the text
        is not such a query."""
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a saved query: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"not a saved query: {text[:80]!r}")
        try:
            return _typed(cls, data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a saved query: {exc}") from exc


def parse(text: str, images: tuple[str, ...] | list[str] = (),
          exclude: tuple[str, ...] | list[str] = (), negatives: tuple[str, ...] | list[str] = (),
          filters: Filters | None = None,
          negative_images: tuple[str, ...] | list[str] = ()) -> Query:
    """``red car -night -"parking lot"`` -> text "red car", negatives ("night", "parking lot").
    ``negatives`` adds more (the CLI's ``--not``), ``negative_images`` the "not like this"
    images (``--unlike``)."""
    found = tuple(
        (m.group(1) or m.group(2) or m.group(3)).strip() for m in _NEGATIVE.finditer(text)
    )
    positive = " ".join(_NEGATIVE.sub(" ", text).split())
    every = tuple(n for n in (*found, *(s.strip() for s in negatives)) if n)
    return Query(positive, every, tuple(str(i) for i in images), tuple(str(e) for e in exclude),
                 filters or Filters(), tuple(str(i) for i in negative_images))


# ---------------------------------------------------------------------- date filters

# The app's date presets (the filter chips), in menu order: name -> what the menu says.
DATE_PRESETS = {"today": "Today", "this-month": "This month", "this-year": "This year",
                "last-year": "Last year"}


def day_range(first: date, last: date) -> tuple[float, float]:
    """``Filters.after``/``before`` for the local-time days ``first`` to ``last``, both
    included: from the start of ``first`` to the end of ``last`` (a microsecond before the
    next midnight, since ``before`` is inclusive). Midnights come from the local clock, so
    a day across a daylight-saving change is 23 or 25 hours long, as the user lived it."""
    if last < first:
        first, last = last, first
    start = datetime.combine(first, datetime_time.min).timestamp()
    end = datetime.combine(last + timedelta(days=1), datetime_time.min).timestamp() - 1e-6
    return start, end


def date_preset(name: str, now: datetime | None = None) -> tuple[float, float]:
    """The (after, before) range of a preset in ``DATE_PRESETS`` seen from ``now`` (local,
    naive; default: the clock). "this-month" and "this-year" run to their end, so a photo
    taken later today still passes."""
    today = (now or datetime.now()).date()
    if name == "today":
        return day_range(today, today)
    if name == "this-month":
        next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        return day_range(today.replace(day=1), next_month - timedelta(days=1))
    if name == "this-year":
        return day_range(date(today.year, 1, 1), date(today.year, 12, 31))
    if name == "last-year":
        return day_range(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    raise ValueError(f"unknown date preset {name!r} (known: {', '.join(DATE_PRESETS)})")


def describe_dates(after: float | None, before: float | None) -> str:
    """A date filter in words, for chips and summaries: "2024-03-01 – 2024-03-31",
    "since 2024-03-01", "until 2024-03-31", or a single day."""

    def day(stamp: float) -> date:
        return datetime.fromtimestamp(stamp).date()

    if after is not None and before is not None:
        first, last = day(after), day(before)
        return first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"
    if after is not None:
        return f"since {day(after).isoformat()}"
    if before is not None:
        return f"until {day(before).isoformat()}"
    return "any date"
