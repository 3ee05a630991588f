"""What the user asked for, parsed once for the command line and the app.

The query language: free text, ``-word`` / ``-"a phrase"`` / ``-'a phrase'`` negatives,
"like this" images, and filters (a folder, a date range, a minimum score). ``clipdesk search
"red car -night"`` and the app's search bar mean the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# -word, -"a phrase" or -'a phrase': a negative term; everything else is the positive text.
_NEGATIVE = re.compile(r"""(?:^|(?<=\s))-(?:"([^"]+)"|'([^']+)'|([^\s"']+))""")


MEDIA_KINDS = ("photo", "raw", "video")  # what Filters.media may hold (core.scan.media_kind)


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

    @property
    def empty(self) -> bool:
        return not self.text and not self.images

    def describe(self) -> str:
        parts = [f"“{self.text}”"] if self.text else []
        if self.images:
            parts.append("like this image" if len(self.images) == 1
                         else f"like these {len(self.images)} images")
        parts += [f"not “{n}”" for n in self.negatives]
        return ", ".join(parts)


def parse(text: str, images: tuple[str, ...] | list[str] = (),
          exclude: tuple[str, ...] | list[str] = (), negatives: tuple[str, ...] | list[str] = (),
          filters: Filters | None = None) -> Query:
    """``red car -night -"parking lot"`` -> text "red car", negatives ("night", "parking lot").
    ``negatives`` adds more (the CLI's ``--not``)."""
    found = tuple(
        (m.group(1) or m.group(2) or m.group(3)).strip() for m in _NEGATIVE.finditer(text)
    )
    positive = " ".join(_NEGATIVE.sub(" ", text).split())
    every = tuple(n for n in (*found, *(s.strip() for s in negatives)) if n)
    return Query(positive, every, tuple(str(i) for i in images), tuple(str(e) for e in exclude),
                 filters or Filters())
