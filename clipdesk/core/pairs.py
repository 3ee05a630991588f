"""RAW+JPEG pairs: a camera set to "RAW+JPEG" writes two files of one shot, and the app shows
them as one photo, the JPEG in front (it is the picture as the camera developed it, and fast
to show), with a RAW badge.

Two files are one shot when they sit in the same folder and share a base name, case ignored
(``IMG_0001.CR2`` and ``img_0001.jpg``), one with a RAW suffix (``decode.RAW_SUFFIXES``) and
one with a developed picture's (JPEG, or HEIF, which some cameras write instead). Pure
functions over paths and rows, no Qt and no catalog: the app folds its browse listing and its
search hits with them, and the command line could too (it lists both files: a script reading
``score<TAB>path`` wants every file that matched).

Folding works on the rows at hand: a RAW whose JPEG is not among them (the JPEG could not be
read, or it fell just past the number of results asked for) stays on its own, as a RAW.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clipdesk.core.decode import RAW_SUFFIXES

if TYPE_CHECKING:
    from clipdesk.core.search import Hit

# What a camera writes beside its RAW: the developed picture, shown in front of the RAW
DEVELOPED_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".heic", ".heif", ".hif"})


def _split(path: str) -> tuple[str, str]:
    """(folder and base name, suffix), both lower-cased; "" for a name with no suffix. Plain
    string slicing: browsing folds 100,000 paths at each listing."""
    dot = path.rfind(".")
    if dot <= max(path.rfind("/"), path.rfind(os.sep)):
        return path.casefold(), ""
    return path[:dot].casefold(), path[dot:].lower()


def is_raw(path: str) -> bool:
    """A RAW file by its suffix (what pairing goes by, whether or not rawpy is installed)."""
    return _split(path)[1] in RAW_SUFFIXES


def shot_key(path: str) -> tuple[str, bool] | None:
    """(folder and base name, case ignored; is RAW) of a file that can be half of a pair,
    else None."""
    shot, suffix = _split(path)
    if suffix in RAW_SUFFIXES:
        return shot, True
    if suffix in DEVELOPED_SUFFIXES:
        return shot, False
    return None


def same_shot(a: str, b: str) -> bool:
    """Whether two files are a RAW and the JPEG of one shot: one picture in two forms that the
    camera wrote on purpose, so never duplicates of each other (core.duplicates can ask)."""
    ka, kb = shot_key(a), shot_key(b)
    return ka is not None and kb is not None and ka[0] == kb[0] and ka[1] != kb[1]


@dataclass
class Folding:
    """How rows fold into shots. ``rows[k]`` is the input row shown at output position ``k``
    (a pair's JPEG, or a row on its own); ``places[k]`` the input row whose place it takes
    (the pair's first row in input order when folded ``at_first``, else ``rows[k]``);
    ``raws[k]`` the RAW path paired with the photo at ``k``, for folded pairs only."""

    rows: np.ndarray  # int64
    places: np.ndarray  # int64
    raws: dict[int, str]

    def __len__(self) -> int:
        return len(self.rows)


def fold(paths: Sequence[str], at_first: bool = False,
         dropped: Iterable[str] = ()) -> Folding:
    """Fold each RAW into the JPEG of its shot among ``paths`` (the first such JPEG; a shot
    with several RAWs keeps the first as its RAW, and the others leave too). ``at_first``:
    the pair takes the place of whichever of its files comes first (search hits, best first);
    else the JPEG's own (a browse listing, whose order is the JPEG's date). A RAW whose shot's
    JPEG is among ``dropped`` paths (left out of a search on purpose) leaves too."""
    suffixes = [p[p.rfind("."):].lower() for p in paths]  # list comprehensions: 100,000
    raw_rows = [i for i, x in enumerate(suffixes) if x in RAW_SUFFIXES]  # paths in 35 ms
    gone = {key[0] for key in map(shot_key, dropped) if key is not None and not key[1]}
    # a suffix in those sets holds no separator: the last dot is the file name's
    shots = {i: paths[i][:paths[i].rfind(".")].casefold() for i in raw_rows}
    # comprehensions over the rows reversed: the first of a shot's files is the one kept
    raws_of = {shots[i]: paths[i] for i in reversed(raw_rows)}
    fronts: dict[str, int] = {}
    if raws_of:
        developed = [i for i, x in enumerate(suffixes) if x in DEVELOPED_SUFFIXES]
        stems = [paths[i][:paths[i].rfind(".")].casefold() for i in developed]
        fronts = {shot: i for i, shot in zip(reversed(developed), reversed(stems), strict=True)
                  if shot in raws_of}
    if not fronts and not (gone & raws_of.keys()):  # nothing pairs: every row stays in place
        every = np.arange(len(paths), dtype=np.int64)
        return Folding(every, every.copy(), {})
    shots.update(zip(fronts.values(), fronts.keys(), strict=True))  # the rows that pair
    if not at_first:  # each JPEG keeps its place: leave the RAWs out, by arrays
        keep = np.ones(len(paths), bool)
        keep[[i for i in raw_rows if shots[i] in fronts or shots[i] in gone]] = False
        rows = np.flatnonzero(keep).astype(np.int64)
        position = np.cumsum(keep) - 1
        return Folding(rows, rows.copy(),
                       {int(position[i]): raws_of[shot] for shot, i in fronts.items()})
    first_seen: dict[str, int] = {}
    for i in sorted(shots):
        first_seen.setdefault(shots[i], i)
    rows, places, raws = [], [], {}
    for i in range(len(paths)):
        shot = shots.get(i)
        if shot is None or (shot not in fronts and shot not in gone):
            rows.append(i)  # not half of a pair
            places.append(i)
        elif shot in fronts and i == first_seen[shot]:
            raws[len(rows)] = raws_of[shot]
            rows.append(fronts[shot])
            places.append(i)
        # else: the other file of a folded pair, or the RAW of a JPEG left out on purpose
    return Folding(np.asarray(rows, np.int64), np.asarray(places, np.int64), raws)


def fold_hits(hits: list[Hit], dropped: Iterable[str] = ()) -> tuple[list[Hit], dict[int, str]]:
    """Search hits (best first) with each RAW folded into its JPEG: the pair shows once, as
    the JPEG, at the better of the two places and with the better score. Returns the hits
    and {position: RAW path} of the pairs, counting those the search folded already (a
    "photo" media filter does, ``Hit.raw``)."""
    folding = fold([h.path for h in hits], at_first=True, dropped=dropped)
    out, raws = [], dict(folding.raws)
    for row, place in zip(folding.rows.tolist(), folding.places.tolist(), strict=True):
        hit = hits[row]
        if place != row:
            hit = dataclasses.replace(hit, score=hits[place].score)
        if hit.raw is not None:
            raws.setdefault(len(out), hit.raw)
        out.append(hit)
    return out, raws

