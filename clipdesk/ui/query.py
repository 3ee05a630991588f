"""What the user asked for: the search bar's text, its "-word" negatives and "like this" images."""

from __future__ import annotations

import re
from dataclasses import dataclass

# -word, -"a phrase" or -'a phrase': a negative term; everything else is the positive text.
_NEGATIVE = re.compile(r"""(?:^|(?<=\s))-(?:"([^"]+)"|'([^']+)'|([^\s"']+))""")


@dataclass(frozen=True)
class Query:
    text: str = ""  # positive text
    negatives: tuple[str, ...] = ()
    images: tuple[str, ...] = ()  # "like this" image paths
    exclude: tuple[str, ...] = ()  # paths left out of the results (the photo of Find similar)

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


def parse(text: str, images: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Query:
    """``red car -night -"parking lot"`` -> text "red car", negatives ("night", "parking lot")."""
    negatives = tuple(
        (m.group(1) or m.group(2) or m.group(3)).strip() for m in _NEGATIVE.finditer(text)
    )
    positive = " ".join(_NEGATIVE.sub(" ", text).split())
    return Query(positive, tuple(n for n in negatives if n), tuple(images), tuple(exclude))
