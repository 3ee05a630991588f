"""The library's folders as a tree, for the app's sidebar: each root with the subfolders that
hold photos (directly or further down), and photo counts rolled up from the leaves.

The catalog gives one row per folder that directly holds photos (``Catalog.folder_counts``);
this module fills in the folders between a root and those, so that the tree has no gaps. It
is plain data and knows nothing of Qt: the app builds it on a worker thread.

A count is what browsing the folder shows: with RAW+JPEG pairs shown as one photo (the app's
setting, ``core.pairs``) a pair counts once, so the counts are of the browse listing's files
folded (``folder_rows``). On the sidebar's worker thread, at 100,000 files (2 shared cores,
median of 7): 150 ms counted by file (the catalog's GROUP BY), 150 ms by tile without RAWs,
200 ms by tile when half the files are RAWs beside their JPEGs.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from clipdesk.core import pairs

if TYPE_CHECKING:
    from clipdesk.core.catalog import Catalog


@dataclass
class FolderNode:
    """One folder: ``count`` photos in it and below, ``direct`` of them in the folder itself."""

    path: Path
    count: int = 0
    direct: int = 0
    children: list[FolderNode] = field(default_factory=list)
    is_root: bool = False
    online: bool = True  # roots only: False when the folder is missing or unmounted
    label: str = ""  # roots only: what the tree shows when the folder's name alone is ambiguous

    @property
    def name(self) -> str:
        """What the tree shows: the folder's own name ("Photos", not a long path that the
        sidebar would cut); roots that share a name also show where they are."""
        return self.label or self.path.name or str(self.path)

    def walk(self) -> Iterable[FolderNode]:
        """This node and every node below it, parents before children."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, path: Path) -> FolderNode | None:
        return next((node for node in self.walk() if node.path == path), None)


def build_tree(roots: Iterable[Path | tuple[Path, bool]],
               rows: Iterable[tuple[str | Path, int]]) -> list[FolderNode]:
    """Roots (a path, or ``(path, online)``) in the given order, each with its subfolders
    sorted by name. ``rows`` are ``(folder, photos directly in it)``; a folder outside every
    root is ignored (the catalog keeps roots disjoint, so each folder has one root)."""
    tops: list[FolderNode] = []
    for root in roots:
        path, online = root if isinstance(root, tuple) else (root, True)
        tops.append(FolderNode(Path(path), is_root=True, online=online))
    nodes: dict[Path, FolderNode] = {top.path: top for top in tops}
    for folder, count in rows:
        if count <= 0:
            continue
        folder = Path(folder)
        top = next((t for t in tops if folder == t.path or folder.is_relative_to(t.path)), None)
        if top is None:
            continue
        node = _node_for(folder, top, nodes)
        node.direct += count
    for top in tops:
        _roll_up(top)
        if sum(t.path.name == top.path.name for t in tops) > 1:
            top.label = f"{top.path.name or top.path} ({top.path.parent})"
    return tops


def folder_rows(catalog: Catalog, pair_raws: bool) -> list[tuple[str, int]]:
    """``build_tree``'s rows, (folder, photos directly in it), counted as browsing shows the
    photos: with ``pair_raws`` a RAW and the JPEG of its shot are one (``tile_counts``),
    else every file is one (``Catalog.folder_counts``). Failed files are left out of both."""
    if not pair_raws:
        return catalog.folder_counts()
    return tile_counts([row[1] for row in catalog.browse_rows()])


def tile_counts(paths: Sequence[str]) -> list[tuple[str, int]]:
    """(folder, tiles directly in it) for the files at ``paths``, by folder: RAW+JPEG pairs
    folded as the browse listing folds them (``pairs.fold``), so a pair counts once."""
    shown = Counter(os.path.dirname(paths[i]) for i in pairs.fold(paths).rows.tolist())
    return sorted(shown.items())


def _node_for(folder: Path, top: FolderNode, nodes: dict[Path, FolderNode]) -> FolderNode:
    """The node of ``folder``, made with the missing folders between it and its root."""
    node = nodes.get(folder)
    if node is not None:
        return node
    node = FolderNode(folder)
    nodes[folder] = node
    _node_for(folder.parent, top, nodes).children.append(node)
    return node


def _roll_up(node: FolderNode) -> int:
    node.children.sort(key=lambda n: (n.path.name.casefold(), n.path.name))
    node.count = node.direct + sum(_roll_up(child) for child in node.children)
    return node.count
