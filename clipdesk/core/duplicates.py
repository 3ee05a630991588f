"""Duplicates: the same photo more than once, one picture in other forms, bursts of one scene.

Three kinds, reported apart and never mixed:

* ``exact``: files with the same content hash (``files.hash``); needs no model.
* ``near``: one picture in other forms (re-encoded, resized, slightly cropped, re-saved in
  another format): distinct contents whose stored embeddings have a cosine of at least the
  threshold. Found from a k-nearest-neighbour graph (usearch's batched search on the
  library's index, with a small search expansion: a near copy is among the very nearest
  neighbours) whose edges above the threshold are joined into connected components; photos
  sharing one EXIF date are also compared exactly (a re-encode or a resize keeps its date,
  and the approximate graph misses some pairs). Two photos whose EXIF dates differ are
  different shots, never near copies, and a group never takes in a second date.
* ``shots``: a burst of one scene taken seconds apart: photos whose EXIF dates are at most
  ``shot_gap`` seconds apart (a chain of such steps) and whose embeddings have a cosine of at
  least the shots threshold.

The kinds nest, so no file is offered for removal twice: a content held by several files
takes part in the near pass once (as its exact group's keeper), and one picture in several
forms takes part in the shots pass once (as its near group's keeper). A group's ``keep``
is the suggested file to keep; removing the others frees ``wasted`` bytes.

Nothing here writes, not to the catalog and never to a photo folder. A file that vanished
or changed since it was indexed (size or mtime differ from the catalog) is left out of its
group and listed in ``stale``: the indexer re-reads it on its next scan.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipdesk.core import pairs
from clipdesk.core.catalog import FileRow, ModelRow
from clipdesk.core.library import Library

log = logging.getLogger(__name__)

KINDS = ("exact", "near", "shots")

# Defaults for real CLIP models (ViT-B-32 class; not measured here on trained weights, which
# this machine cannot download): a JPEG re-encode or a resize scores ~0.98-0.99 against its
# original, a slight crop ~0.95; two shots of one scene seconds apart ~0.85-0.95. Immich's
# duplicate detection uses 0.99 (cosine distance 0.01); a lower bar also catches crops.
NEAR_THRESHOLD = 0.95
SHOTS_THRESHOLD = 0.85
# Per model identity (``ModelRow.spec``), where a model's embeddings sit tighter or looser.
MODEL_THRESHOLDS: dict[str, tuple[float, float]] = {}
SHOT_GAP_S = 10.0  # the longest pause between two shots of one burst
NEIGHBOURS = 16  # k of the k-nearest-neighbour graph
SEARCH_EXPANSION = 64  # usearch's expansion for that graph (the app searches with 512)
EXACT_MAX = 4096  # up to this many contents, the graph is exact (numpy), not usearch's
SAME_DATE_MAX = 64  # contents sharing one EXIF date compared exactly (more: a broken clock)
CHUNK = 2048  # queries per usearch call: the app's searches get the index in between
# An index of quantized vectors (i8) scores within about 0.005 of the truth: its neighbours
# this far under the threshold are checked against the stored vectors
QUANTIZED_MARGIN = 0.02

ORIGINAL_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".heic", ".heif", ".tif", ".tiff",
    ".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf",
    ".pef", ".srw", ".raw", ".rwl", ".3fr", ".iiq", ".x3f",
    ".mov", ".mp4", ".3gp",  # what phones and cameras record (MKV, WEBM, AVI: re-encodes)
}
_COPY_NAME = re.compile(r"(?i)(copy|kopie|copie|kopia|copia|\(\d+\)$|~\d+$| - \d+$)")


@dataclass
class Member:
    """One file of a group, with what choosing the keeper and showing the group need."""

    file_id: int
    path: str
    size: int
    width: int | None
    height: int | None
    taken_at: float | None  # EXIF date, Unix time
    mtime: float  # seconds
    hash: str | None

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @classmethod
    def from_row(cls, row: FileRow) -> Member:
        return cls(row.id, row.path, row.size, row.width, row.height, row.taken_at,
                   row.mtime_ns / 1e9, row.hash)


@dataclass
class Group:
    """Files that are one photo (``exact``, ``near``) or one scene (``shots``)."""

    kind: str  # one of KINDS
    members: list[Member]  # the keeper first, then by path
    keep: str  # the path of the suggested keeper

    @property
    def wasted(self) -> int:
        """Bytes freed by removing every member but ``keep``."""
        return sum(m.size for m in self.members if m.path != self.keep)

    def as_json(self) -> dict:
        return {"kind": self.kind, "paths": [m.path for m in self.members], "keep": self.keep,
                "bytes": self.wasted}


def _is_copy_name(path: str) -> bool:
    return bool(_COPY_NAME.search(Path(path).stem))


def without_raw_twins(members: list[Member]) -> list[Member]:
    """``members`` less each RAW whose shot's JPEG is among them (``core.pairs``: same folder,
    same name). A camera writes RAW+JPEG on purpose: one shot, never a duplicate of itself, so
    the RAW is never offered for the trash beside its JPEG; the JPEG stands for the shot."""
    if len(members) < 2:
        return members
    return [m for m in members
            if not any(m is not o and pairs.same_shot(m.path, o.path)
                       and pairs.is_raw(m.path) for o in members)]


def suggest_keep(members: list[Member]) -> Member:
    """The file worth keeping: highest resolution, then an original format (JPEG, HEIC, RAW
    over PNG or WEBP re-saves; a camera's name over a "copy"), then the earliest date."""
    def rank(m: Member):
        original = Path(m.path).suffix.lower() in ORIGINAL_SUFFIXES
        date = m.taken_at if m.taken_at is not None else m.mtime
        return (-m.pixels, not original, _is_copy_name(m.path), date, m.mtime, len(m.path),
                m.path)

    return min(members, key=rank)


def thresholds(model: ModelRow | None) -> tuple[float, float]:
    """(near, shots) cosine thresholds for a model: its own, else the CLIP defaults."""
    if model is not None and model.spec in MODEL_THRESHOLDS:
        return MODEL_THRESHOLDS[model.spec]
    return NEAR_THRESHOLD, SHOTS_THRESHOLD


class _Sets:
    """Union-find over hashable items: connected components of an edge list."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        self.parent.setdefault(ra, ra)
        self.parent.setdefault(rb, rb)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smaller root: deterministic

    def components(self) -> dict:
        out: dict = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return out


@dataclass
class _Content:
    """One distinct content (hash) among the indexed photos: the file standing for it in the
    vector passes, and its EXIF date."""

    file_id: int
    taken_at: float | None


class DuplicateFinder:
    """The duplicate groups of one library, kept current as photos join (``add``) or leave
    (``remove``) without recomputing every group.

    ``build()`` makes the full pass; ``groups()`` gives the current groups (the disk checked
    again); ``stale`` lists (path, why) of files left out because they vanished or changed.
    """

    def __init__(self, library: Library, model: ModelRow | None,
                 kinds: Iterable[str] = KINDS, threshold: float | None = None,
                 folder: Path | None = None, shots_threshold: float | None = None,
                 shot_gap: float = SHOT_GAP_S, verify: bool = True):
        self.library = library
        self.catalog = library.catalog
        self.model = model
        self.kinds = tuple(k for k in KINDS if k in set(kinds))
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown duplicate kinds: {sorted(unknown)}")
        near, shots = thresholds(model)
        self.threshold = near if threshold is None else float(threshold)
        self.shots_threshold = shots if shots_threshold is None else float(shots_threshold)
        if not 0 < self.threshold <= 1 or not 0 < self.shots_threshold <= 1:
            raise ValueError("thresholds are cosine similarities in (0, 1]")
        self.shot_gap = shot_gap
        self.folder = Path(folder).resolve() if folder is not None else None
        self.verify = verify
        self.stale: list[tuple[str, str]] = []
        self._vectors_needed = "near" in self.kinds or "shots" in self.kinds
        if self._vectors_needed and model is None:
            raise ValueError("near duplicates and similar shots need the library's model")
        self._exact: dict[str, set[int]] = {}  # hash -> ids of 'ok' files holding it (>= 1)
        self._contents: dict[str, _Content] = {}  # indexed contents
        self._dated: dict[float, list[str]] = {}  # EXIF date -> contents taken then
        self._near = _Sets()  # over hashes
        self._near_dates: dict[str, float | None] = {}  # a near root's EXIF date
        self._shots = _Sets()  # over hashes
        self._timeline: list[tuple[float, str]] = []  # (taken_at, hash), sorted
        self._videos: set[str] = set()  # contents that are videos

    # ------------------------------------------------------------------ building

    def build(self) -> DuplicateFinder:
        """The full pass over the library (or the folder)."""
        started = time.perf_counter()
        # exact copies, also when only near copies or shots are asked: a picture's keeper is
        # the best of all the files holding it
        for row in self.catalog.shared_hash_files(self.folder):
            self._exact.setdefault(row.hash, set()).add(row.id)
        if self._vectors_needed:
            facts = self.catalog.indexed_facts(self.model, self.folder)
            self._learn(facts)
            hashes = list(self._contents)
            self._link_near(hashes, among_all=True)  # shots, too, group pictures
            if "shots" in self.kinds:
                self._timeline = sorted((c.taken_at, h) for h, c in self._contents.items()
                                        if c.taken_at is not None)
                self._link_shots(self._timeline_pairs(range(len(self._timeline))))
        log.info("duplicates pass (%s) over %d contents in %.1f s", ", ".join(self.kinds),
                 len(self._contents), time.perf_counter() - started)
        return self

    def _learn(self, facts: list[tuple[int, str, float | None]]) -> list[str]:
        """Record indexed files; returns the hashes new to this finder."""
        new = []
        for file_id, hash_, taken_at in facts:
            if hash_ not in self._contents:
                self._contents[hash_] = _Content(file_id, taken_at)
                new.append(hash_)
                if taken_at is not None:
                    self._dated.setdefault(taken_at, []).append(hash_)
        self._videos |= self.catalog.video_hashes(new)
        return new

    def _vectors(self, hashes: list[str]) -> np.ndarray:
        """Unit float32 vectors of contents, from the library's index (their files' keys)."""
        index = self.library.vectors(self.model)
        keys = np.array([self._contents[h].file_id for h in hashes], dtype=np.uint64)
        out = np.zeros((len(keys), index.dim), dtype=np.float32)
        missing = []
        for start in range(0, len(keys), CHUNK * 4):
            part = keys[start:start + CHUNK * 4]
            # exact vectors, in order: the index's own, or the catalog's if it is quantized
            have, got = index.vectors_of(part)
            present = np.isin(part, have)
            rows = np.nonzero(present)[0] + start
            if len(rows):  # none for videos: they are in the index by their frames
                out[rows] = got
            missing += [int(i) for i in np.nonzero(~present)[0] + start]
        for i in missing:  # not in the index yet (the writer adds it in a moment): the catalog's
            stored = self.catalog.embedding(self.model, hashes[i])
            if stored is not None:
                out[i] = stored
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _join_near(self, found: list[tuple[float, str, str]]) -> None:
        """Join near pairs (similarity, a, b), strongest first, into pictures. Different EXIF
        dates mean different shots: a picture never takes in a second date, not even through
        a copy that has none (a PNG re-save bridging two shots of one scene)."""
        near = self._near
        for _, a, b in sorted(found, key=lambda f: (-f[0], f[1], f[2])):
            ra, rb = near.find(a), near.find(b)
            if a == b or ra == rb:
                continue
            da = self._near_dates.get(ra, self._contents[a].taken_at)
            db = self._near_dates.get(rb, self._contents[b].taken_at)
            if da is not None and db is not None and abs(da - db) >= 1.0:
                continue
            near.union(a, b)
            self._near_dates[near.find(a)] = da if da is not None else db

    def _all_pairs(self, hashes: list[str]) -> list[tuple[float, str, str]]:
        """Every pair at or above the threshold, by brute force (a small library)."""
        vectors = self._vectors(hashes)
        sims = vectors @ vectors.T
        return [(float(sims[i, j]), hashes[i], hashes[j])
                for i, j in zip(*np.nonzero(np.triu(sims >= self.threshold, k=1)), strict=True)]

    def _link_near(self, hashes: list[str], among_all: bool) -> None:
        """Join ``hashes`` to the contents they are near copies of: every pair when the
        library is small; else, exactly, those sharing an EXIF date, and through each one's
        nearest neighbours in the index.

        In the full pass only the photos without a date (or with a date shared by more than
        SAME_DATE_MAX, a camera whose clock was never set) ask the index: two dated photos
        are near copies only if their dates agree, which the exact pass covers, so a pair
        the graph must find has a dateless side, and that side asks. This saves the k-NN
        search for most photos, its whole cost (at 300,000 photos, 155 of 164 s with every
        photo asking). New arrivals (``add``) all ask."""
        if not hashes:
            return
        if among_all and len(hashes) <= EXACT_MAX:
            self._join_near(self._all_pairs(hashes))
            return
        # a video is in the index by its frames, not by the mean vector that stands for it
        # here: videos are compared with every video, exactly (they are few)
        asking = [h for h in hashes if h not in self._videos]
        if among_all:
            asking = [h for h in asking if (t := self._contents[h].taken_at) is None
                      or len(self._dated[t]) > SAME_DATE_MAX]
        self._join_near(self._neighbours(asking) + self._same_date_pairs(hashes)
                        + self._video_pairs([h for h in hashes if h in self._videos]))

    def _video_pairs(self, hashes: list[str]) -> list[tuple[float, str, str]]:
        """Pairs at or above the threshold between these videos and every video."""
        if not hashes:
            return []
        others = sorted(self._videos & set(self._contents))
        sims = self._vectors(hashes) @ self._vectors(others).T
        return [(float(sims[i, j]), hashes[i], others[j])
                for i, j in zip(*np.nonzero(sims >= self.threshold), strict=True)
                if hashes[i] != others[j]]

    def _same_date_pairs(self, hashes: list[str]) -> list[tuple[float, str, str]]:
        """Pairs at or above the threshold among contents with the same EXIF date, compared
        exactly: a re-encode or a resize keeps its original's date, and this finds it where
        the approximate graph misses it (on library-shaped data its search finds a photo's own
        vector first for only ~80% of photos)."""
        dates = {self._contents[h].taken_at for h in hashes} - {None}
        out = []
        for date in dates:
            same = self._dated.get(date, [])
            if 1 < len(same) <= SAME_DATE_MAX:
                out += self._all_pairs(same)
        return out

    def _neighbours(self, hashes: list[str]) -> list[tuple[float, str, str]]:
        """(similarity, hash, neighbour hash) pairs at or above the threshold from usearch's batched
        k-nearest-neighbour search; the index lock is taken per chunk, so the app's searches
        are not held up for the whole pass."""
        index = self.library.vectors(self.model)
        hash_of = {c.file_id: h for h, c in self._contents.items()}
        count = min(NEIGHBOURS, len(index))
        if count == 0:
            return []
        out = []
        for start in range(0, len(hashes), CHUNK):
            part = self._vectors(hashes[start:start + CHUNK])  # a chunk at a time: memory
            with index.lock:
                usual = index.index.expansion_search
                index.index.expansion_search = max(SEARCH_EXPANSION, count)
                try:
                    found = index.index.search(part, count)
                finally:
                    index.index.expansion_search = usual
            keys = np.asarray(found.keys).reshape(len(part), -1)
            sims = 1.0 - np.asarray(found.distances, dtype=np.float32).reshape(len(part), -1)
            margin = QUANTIZED_MARGIN if index.quantized else 0.0
            pairs = []
            for i, j in zip(*np.nonzero(sims >= self.threshold - margin), strict=True):
                other = hash_of.get(int(keys[i, j]))  # None: outside the folder, or not indexed
                if other is not None and other != hashes[start + i]:
                    pairs.append((float(sims[i, j]), i, other))
            if margin and pairs:  # the index's scores are approximate: decide on exact ones
                others = sorted({o for _, _, o in pairs})
                exact = dict(zip(others, self._vectors(others), strict=True))
                pairs = [(float(part[i] @ exact[o]), i, o) for _, i, o in pairs]
                pairs = [p for p in pairs if p[0] >= self.threshold]
            out += [(sim, hashes[start + i], other) for sim, i, other in pairs]
        return out

    def _timeline_pairs(self, positions: Iterable[int]) -> list[tuple[str, str]]:
        """(earlier, later) hash pairs of the timeline within ``shot_gap`` of each other, one
        of them at ``positions``."""
        line = self._timeline
        pairs = set()
        for p in positions:
            t, h = line[p]
            q = p + 1
            while q < len(line) and line[q][0] - t <= self.shot_gap:
                pairs.add((h, line[q][1]))
                q += 1
            q = p - 1
            while q >= 0 and t - line[q][0] <= self.shot_gap:
                pairs.add((line[q][1], h))
                q -= 1
        return sorted(pairs)

    def _link_shots(self, pairs: list[tuple[str, str]]) -> None:
        if not pairs:
            return
        involved = sorted({h for pair in pairs for h in pair})
        where = {h: i for i, h in enumerate(involved)}
        vectors = self._vectors(involved)
        a = np.array([where[p[0]] for p in pairs])
        b = np.array([where[p[1]] for p in pairs])
        sims = np.einsum("ij,ij->i", vectors[a], vectors[b])
        for (x, y), sim in zip(pairs, sims, strict=True):
            if sim >= self.shots_threshold:
                self._shots.union(x, y)

    # ------------------------------------------------------------------ incremental

    def add(self, file_ids: Iterable[int]) -> list[Group]:
        """Check files that joined the library (indexed since the last pass) against it;
        returns the groups they are now part of."""
        ids = sorted({int(i) for i in file_ids})
        rows = self.catalog.files_by_ids(ids)
        folder = os.path.join(str(self.folder), "") if self.folder is not None else None
        rows = {i: r for i, r in rows.items() if folder is None or r.path.startswith(folder)}
        touched = set(rows)
        new_hashes = sorted({r.hash for r in rows.values() if r.status == "ok" and r.hash})
        for row in self.catalog.files_with_hashes(new_hashes, self.folder):
            self._exact.setdefault(row.hash, set()).add(row.id)
        if self._vectors_needed:
            new = self._learn(self.catalog.indexed_facts(self.model, self.folder, list(rows)))
            self._link_near(new, among_all=False)
            if "shots" in self.kinds:
                for h in new:
                    taken = self._contents[h].taken_at
                    if taken is not None:
                        bisect.insort(self._timeline, (taken, h))
                placed = {h for h in new if self._contents[h].taken_at is not None}
                positions = [p for p, (_, h) in enumerate(self._timeline) if h in placed]
                self._link_shots(self._timeline_pairs(positions))
        return [g for g in self.groups(touching=new_hashes)
                if any(m.file_id in touched or m.hash in new_hashes for m in g.members)]

    def remove(self, file_ids: Iterable[int]) -> None:
        """Forget files that left the library (deleted, moved to the trash); the groups they
        were in are worked out again among their remaining members."""
        gone = {int(i) for i in file_ids}
        for ids in self._exact.values():
            ids -= gone
        lost = [h for h, c in self._contents.items() if c.file_id in gone]
        if lost and self._vectors_needed:  # a content another file still holds stays
            for row in self.catalog.files_with_hashes(lost, self.folder):
                content = self._contents[row.hash]
                if row.id not in gone and (content.file_id in gone or row.id < content.file_id):
                    content.file_id = row.id  # the stand-in for the vector passes
            lost = [h for h in lost if self._contents[h].file_id in gone]
        for h in lost:
            taken = self._contents.pop(h).taken_at
            if taken is not None:
                self._dated[taken].remove(h)
        if not lost:
            return
        lost_set = set(lost)
        self._timeline = [(t, h) for t, h in self._timeline if h not in lost_set]
        for sets, relink in ((self._near, self._relink_near), (self._shots, self._relink_shots)):
            hit = {sets.find(h) for h in lost if h in sets.parent}
            if not hit:
                continue
            members = [x for root, xs in sets.components().items() if root in hit for x in xs]
            for x in members:
                sets.parent.pop(x, None)
                if sets is self._near:
                    self._near_dates.pop(x, None)
            relink([x for x in members if x not in lost_set])

    def _relink_near(self, hashes: list[str]) -> None:
        if len(hashes) > 1:
            self._join_near(self._all_pairs(hashes))

    def _relink_shots(self, hashes: list[str]) -> None:
        placed = set(hashes)
        positions = [p for p, (_, h) in enumerate(self._timeline) if h in placed]
        self._link_shots([pair for pair in self._timeline_pairs(positions)
                          if pair[0] in placed and pair[1] in placed])

    # ------------------------------------------------------------------ the groups

    def groups(self, touching: Iterable[str] | None = None) -> list[Group]:
        """Every group, the files on disk checked again, by wasted space (most first); or
        only the groups holding one of the contents ``touching`` (and the shots holding a
        picture they are part of), so that ``add`` need not check every group's files."""
        self.stale = []
        exact_sets = {h: ids for h, ids in self._exact.items() if len(ids) > 1}
        near_sets = [xs for xs in self._near.components().values() if len(xs) > 1]
        shot_sets = [xs for xs in self._shots.components().values() if len(xs) > 1] \
            if "shots" in self.kinds else []
        if touching is not None:
            some = set(touching)
            exact_sets = {h: ids for h, ids in exact_sets.items() if h in some}
            near_sets = [xs for xs in near_sets if some.intersection(xs)]
            pictures = some.union(*near_sets)
            shot_sets = [xs for xs in shot_sets if pictures.intersection(xs)]
        if "near" not in self.kinds:
            near_sets = []
        wanted = {i for ids in exact_sets.values() for i in ids}
        for xs in (*near_sets, *shot_sets):
            for h in xs:
                if h in self._contents:
                    wanted.add(self._contents[h].file_id)
        # a content's files: all its copies (a stand-in for it may have gone)
        by_hash: dict[str, list[int]] = {}
        if self._vectors_needed:
            hashes = {h for xs in (*near_sets, *shot_sets) for h in xs}
            for h in hashes:
                by_hash[h] = sorted(self._exact.get(h, set()) | {self._contents[h].file_id})
                wanted.update(by_hash[h])
        members = self._current(sorted(wanted))

        def holders(h: str) -> list[Member]:
            ids = by_hash.get(h) or sorted(self._exact.get(h, set()))
            return [members[i] for i in ids if i in members]

        def keeper(h: str) -> Member | None:
            held = holders(h)
            return suggest_keep(held) if held else None

        out: list[Group] = []
        if "exact" in self.kinds:
            for ids in exact_sets.values():
                out += self._group("exact", [members[i] for i in sorted(ids) if i in members])
        if "near" in self.kinds:
            for xs in near_sets:
                out += self._group("near", [k for h in sorted(xs) if (k := keeper(h))])
        if "shots" in self.kinds:
            for xs in shot_sets:
                pictures: dict = {}
                for h in sorted(xs):
                    k = keeper(h)
                    picture = self._near.find(h)
                    if k is not None and (picture not in pictures
                                          or suggest_keep([pictures[picture], k]) is k):
                        pictures[picture] = k
                out += self._group("shots", list(pictures.values()))
        out.sort(key=lambda g: (-g.wasted, KINDS.index(g.kind), g.keep))
        return out

    @staticmethod
    def _group(kind: str, members: list[Member]) -> list[Group]:
        members = without_raw_twins(members)
        if len(members) < 2:
            return []
        keep = suggest_keep(members)
        rest = sorted((m for m in members if m is not keep), key=lambda m: m.path)
        return [Group(kind, [keep, *rest], keep.path)]

    def _current(self, ids: list[int]) -> dict[int, Member]:
        """Members of these files as the catalog knows them, less those that vanished or
        changed on disk since (noted in ``stale``)."""
        out = {}
        for file_id, row in self.catalog.files_by_ids(ids).items():
            if row.status != "ok":
                continue
            if self.verify:
                why = _changed(row)
                if why:
                    self.stale.append((row.path, why))
                    continue
            out[file_id] = Member.from_row(row)
        self.stale.sort()
        return out


def _changed(row: FileRow) -> str | None:
    """Why the file on disk is not the one indexed, or None if it is."""
    try:
        st = os.stat(row.path)
    except FileNotFoundError:
        return "vanished"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
        return "changed since it was indexed"
    return None


def find_groups(library: Library, model: ModelRow | None,
                kinds: Iterable[str] = KINDS, threshold: float | None = None,
                folder: Path | None = None, shots_threshold: float | None = None,
                shot_gap: float = SHOT_GAP_S, stale: list[tuple[str, str]] | None = None,
                verify: bool = True) -> list[Group]:
    """Every duplicate group of the library (or under ``folder``), most wasted space first.
    ``model`` may be None for exact duplicates only. Files that vanished or changed since
    they were indexed are left out and, when ``stale`` is given, appended to it as
    (path, why)."""
    finder = DuplicateFinder(library, model, kinds, threshold, folder, shots_threshold,
                             shot_gap, verify).build()
    groups = finder.groups()
    if stale is not None:
        stale.extend(finder.stale)
    return groups
