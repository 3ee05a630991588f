"""What the engine hands to the window: the model's state, search answers, photo facts.

Plain records shared by the controllers (``modelcontrol``, ``searchcontrol``, ``statuscontrol``)
and the widgets; ``clipdesk.ui.engine`` re-exports them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from clipdesk.core.query import Query

if TYPE_CHECKING:
    from clipdesk.core.browse import Sections
    from clipdesk.core.search import Hit


class ModelState(enum.Enum):
    UNKNOWN = "unknown"  # the library is not open yet
    LOADING = "loading"
    DOWNLOADING = "downloading"
    READY = "ready"
    MISSING = "missing"  # not on this computer: offer the download or a model folder
    FAILED = "failed"  # broken spec, bad folder, unsafe checkpoint: the message says what


class ModelNotReady(Exception):
    """A query needs the model's text or image tower, and the model is still loading."""


@dataclass
class ResultSet:
    """Search hits as columns. 100,000 ``Hit`` objects would each be tracked by Python's
    garbage collector, whose full passes over them stall the GUI thread; strings and arrays
    are not tracked. Built in the search thread; ``hit(i)`` makes one ``Hit`` on demand."""

    paths: list[str]
    hashes: list[str | None]
    ids: np.ndarray  # int64 file ids
    scores: np.ndarray  # float32
    dates: np.ndarray  # float64 Unix times, -inf when unknown
    # result -> the RAW of its shot, when a RAW and its JPEG show as one photo (core.pairs)
    raws: dict[int, str] = field(default_factory=dict)
    # videos: result -> (its best moment in seconds or None when browsing, its length)
    videos: dict[int, tuple[float | None, float]] = field(default_factory=dict)

    @classmethod
    def from_hits(cls, hits: list[Hit]) -> ResultSet:
        n = len(hits)
        return cls(
            [h.path for h in hits], [h.hash for h in hits],
            np.fromiter((h.file_id for h in hits), np.int64, n),
            np.fromiter((h.score for h in hits), np.float32, n),
            np.fromiter((h.taken_at if h.taken_at is not None else -np.inf for h in hits),
                        np.float64, n),
            videos={i: (h.time, h.duration) for i, h in enumerate(hits)
                    if getattr(h, "duration", None) is not None})

    @classmethod
    def empty(cls) -> ResultSet:
        return cls([], [], np.zeros(0, np.int64), np.zeros(0, np.float32),
                   np.zeros(0, np.float64))

    def __len__(self) -> int:
        return len(self.paths)

    def hit(self, i: int) -> Hit:
        from clipdesk.core.search import Hit

        date = float(self.dates[i])
        moment, duration = self.videos.get(i, (None, None))
        return Hit(self.paths[i], float(self.scores[i]), int(self.ids[i]),
                   date if np.isfinite(date) else None, self.hashes[i], moment, duration)


@dataclass
class Timeline:
    """The sections of a browse answer (an empty query): months, and days for zoomed-in tiles."""

    months: Sections
    days: Sections


@dataclass
class SearchAnswer:
    generation: int
    query: Query
    results: ResultSet
    seconds: float
    model: str
    timeline: Timeline | None = None  # set when browsing: the library, newest first
    # the lowest score worth showing (core.cutoff.adaptive_cutoff), the grid's "Auto" cut-off;
    # None: show every result
    cutoff: float | None = None


@dataclass
class PhotoInfo:
    """What the preview shows besides the picture."""

    path: str
    size: int | None
    width: int | None
    height: int | None
    taken_at: float | None
    indexed: bool
