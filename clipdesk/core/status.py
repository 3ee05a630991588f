"""What the library holds: per folder, how many photos are indexed, pending and failed; the
failures with their reasons; the space the library takes. ``clipdesk status`` prints it and
the app's status bar and Folders window show it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from clipdesk.core.library import Library


@dataclass
class RootStatus:
    path: str
    indexed: int
    pending: int
    failed: int
    online: bool
    watching: str = ""  # live | polling | offline, once a folder watcher runs


@dataclass
class LibraryStatus:
    folder: str
    model: str | None  # the spec in use (what --model, the library or the default names)
    roots: list[RootStatus] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes per part of the library
    busy: str | None = None  # why this window only searches (another process updates)

    @property
    def indexed(self) -> int:
        return sum(r.indexed for r in self.roots)

    @property
    def pending(self) -> int:
        return sum(r.pending for r in self.roots)

    @property
    def bytes_on_disk(self) -> int:
        return sum(self.sizes.values())

    def as_json(self) -> dict:
        return {"library": self.folder, "model": self.model, "indexed": self.indexed,
                "pending": self.pending,
                "failed": [{"path": p, "reason": r} for p, r in self.failures],
                "roots": [{k: v for k, v in asdict(r).items() if k != "watching"}
                          for r in self.roots],
                "sizes": self.sizes}


def library_status(library: Library, spec) -> LibraryStatus:
    """The status of ``library`` for the model ``spec`` (a ModelSpec, or None before any)."""
    catalog = library.catalog
    row = library.model_row(spec) if spec is not None else None
    counts = catalog.counts(row.id if row else None)
    status = LibraryStatus(str(library.folder), spec.text if spec is not None else None)
    for rid, path in catalog.roots():
        c = counts.get(rid, {"indexed": 0, "pending": 0, "failed": 0})
        status.roots.append(RootStatus(str(path), c["indexed"], c["pending"], c["failed"],
                                       path.is_dir()))
    status.failures = catalog.failures()
    status.sizes = library.size_on_disk()
    return status
