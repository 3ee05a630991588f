"""The ``clipdesk`` command line: one face on the core engine.

Errors the user can fix print one line and exit 2; anything unexpected goes to the log
file with its traceback and exits 1. Ctrl-C exits 130 after keeping finished work.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from clipdesk import __version__
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.paths import library_dir, use_base_dir
from clipdesk.logs import setup_logging

log = logging.getLogger("clipdesk")


# ---------------------------------------------------------------------------- helpers


def _open_library(args, must_exist: bool = False):
    from clipdesk.core.catalog import upgrade_pending
    from clipdesk.core.library import Library

    folder = library_dir(args.library)
    if must_exist and not Library.exists(folder):
        raise ClipDeskError(f"no library at {folder} yet: run `clipdesk index FOLDER` first")
    if upgrade_pending(folder):
        print(f"Upgrading the library at {folder} for this version of ClipDesk (once; about a "
              f"minute and a half for a million photos)…", file=sys.stderr, flush=True)
    library = Library(folder, role=f"`clipdesk {args.command}`")
    _opened.append(library)
    return library


_opened: list = []  # libraries a command opened: closed (and the writer lock released) at its end


def _encoder_for(args, library=None):
    """Load the model: --model, CLIPDESK_MODEL, the library's model, then the default."""
    from clipdesk.core import models

    spec = models.choose_spec(args.model, library.model_spec if library else None)
    print(f"Loading model {spec.text} ({models.runtime_for(args.device)}) ...", file=sys.stderr)
    return models.load(spec, device=args.device, int8=getattr(args, "int8", False))


def _searcher(args):
    from clipdesk.core import models
    from clipdesk.core.search import Searcher

    library = _open_library(args, must_exist=True)
    spec = models.choose_spec(args.model, library.model_spec)
    row = library.model_row(spec)
    if row is None or library.catalog.indexed_count(row) == 0:
        raise ClipDeskError(
            f"the library has no photos indexed with {spec.text}: run `clipdesk index` "
            f"(with --model {spec.text} if that is the model you want)"
        )

    def encoder():
        enc = models.load(spec, device=args.device)
        if enc.dim != row.dim:
            raise ClipDeskError(f"model {spec.text} no longer matches the library's index")
        return enc

    return Searcher(library, row, encoder)


def _date(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _end_of_day(text: str) -> float:
    stamp = _date(text)
    return stamp + 86399.999 if len(text.strip()) <= 10 else stamp


def _moment(seconds: float) -> str:
    """A video's moment as a player shows it: M:SS, or H:MM:SS past an hour."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _print_hits(hits, as_json: bool) -> None:
    """``score<TAB>path`` per hit, best first; a video adds ``<TAB>t=M:SS``, the moment that
    matched (``"time": seconds`` in JSON)."""
    if as_json:
        out = []
        for h in hits:
            item = {"path": h.path, "score": round(h.score, 6)}
            if h.time is not None:
                item["time"] = round(h.time, 3)
            out.append(item)
        print(json.dumps(out, indent=1))
    else:
        for h in hits:
            moment = f"\tt={_moment(h.time)}" if h.time is not None else ""
            print(f"{h.score:.4f}\t{h.path}{moment}")


def _print_dated(hits, as_json: bool) -> None:
    """Browsed photos (no scores): date and path, newest first."""
    def day(h) -> str:
        return datetime.fromtimestamp(h.taken_at).isoformat(" ", "minutes")

    if as_json:
        print(json.dumps([{"path": h.path, "date": day(h)} for h in hits], indent=1))
    else:
        for h in hits:
            print(f"{day(h)}\t{h.path}")


def _filters(args):
    from clipdesk.core.query import Filters

    folder = Path(args.folder).expanduser() if args.folder else None
    if folder is not None and not folder.is_dir():
        raise ClipDeskError(f"--folder: not a folder: {folder}")
    return Filters(folder, args.after, args.before, _min_score(args))


def _min_score(args) -> float | None:
    """The cut-off as Filters.min_score: --min-score or --cutoff SCORE, --cutoff none
    (cutoff.SHOW_ALL), or None: adaptive (``--cutoff auto``, the default)."""
    from clipdesk.core.cutoff import parse_cutoff

    if args.cutoff is not None and args.min_score is not None:
        raise ClipDeskError("give --cutoff or --min-score, not both")
    if args.cutoff is None:
        return args.min_score
    try:
        return parse_cutoff(args.cutoff)
    except ValueError as exc:
        raise ClipDeskError(f"--cutoff: {exc}") from None


def _query_images(option: str, paths: list[str] | None) -> list[str]:
    """Images named on the command line, as absolute paths (an album runs from anywhere)."""
    out = []
    for p in paths or []:
        path = Path(p).expanduser().resolve()
        if not path.is_file():
            raise ClipDeskError(f"{option}: image not found: {p}")
        out.append(str(path))
    return out


# ---------------------------------------------------------------------------- commands


def cmd_index(args) -> int:
    from clipdesk.core.indexer import Indexer

    folders = [Path(f).expanduser() for f in args.folders]
    for f in folders:
        if not f.is_dir():
            raise ClipDeskError(f"not a folder: {f}")
    library = _open_library(args)
    library.claim_writer()  # before the model's seconds of loading: fail at once when busy
    if not folders and not library.catalog.roots():
        raise ClipDeskError("the library has no folders yet: clipdesk index FOLDER...")
    encoder = _encoder_for(args, library)
    indexer = Indexer(library, encoder, workers=args.workers, batch_size=args.batch_size,
                      time_limit=args.time_limit)
    report = indexer.run(folders or None)
    for msg in report.folder_errors:
        print(f"warning: {msg}", file=sys.stderr)
    for path, reason in report.failed:
        print(f"skipped: {path}: {reason}", file=sys.stderr)
    print(report.summary())
    if report.interrupted:
        print("Run `clipdesk index` again to continue where it stopped.")
        return 130
    return 0


def cmd_watch(args) -> int:
    """Index, then follow the library's folders until Ctrl-C (for a home server or NAS)."""
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.watcher import LiveIndexer, Watcher

    library = _open_library(args)
    library.claim_writer()
    roots = [p for _, p in library.catalog.roots()]
    if not roots:
        raise ClipDeskError("the library has no folders yet: clipdesk index FOLDER...")
    encoder = _encoder_for(args, library)
    indexer = Indexer(library, encoder, workers=args.workers, on_progress=lambda *_: None,
                      time_limit=args.time_limit)
    watcher = Watcher(roots, poll_interval=args.poll_interval)

    def on_batch(report, messages: list[str]) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        for msg in messages:
            print(f"[{stamp}] note: {msg}", flush=True)
        if report is not None and (report.todo or report.removed):
            print(f"[{stamp}] {report.embedded} embedded, {report.reused} recognised by content, "
                  f"{len(report.failed)} failed, {report.removed} removed", flush=True)

    live = LiveIndexer(indexer, watcher, on_batch=on_batch)
    print(f"Watching {len(roots)} folder(s): " + ", ".join(map(str, roots)) + ". Ctrl-C to stop.",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: live.stop())  # a service manager's stop
    try:
        live.run()
    except KeyboardInterrupt:
        live.stop()
    print("Stopped watching; everything indexed so far is saved.", flush=True)
    return 0


def cmd_search(args) -> int:
    from dataclasses import replace

    from clipdesk.core import albums, cutoff, query

    searcher = _searcher(args)
    likes = [str(Path(p).expanduser()) for p in args.like or []]
    unlikes = [str(Path(p).expanduser().resolve()) for p in args.unlike or []]
    asked = query.parse(args.text, likes, negatives=args.negative or [], filters=_filters(args),
                        negative_images=unlikes)
    if args.album is not None:  # the album's query, refined by the options given
        album = searcher.catalog.album(args.album)
        if album is None:
            raise ClipDeskError(f"no album named “{args.album.strip()}” (see `clipdesk albums`)")
        asked = albums.refine(album.query, asked)
        if args.cutoff is not None and args.cutoff.strip().lower() == "auto":
            asked = replace(asked, filters=replace(asked.filters, min_score=None))
        hits = albums.run(searcher, asked, args.n)
        if asked.empty:  # a browsing album: newest first, no scores
            _print_dated(hits, args.json)
            return 0
        _print_hits(hits, args.json)
        return 0
    if asked.empty:
        raise ClipDeskError("search: give some text to look for (or --like IMAGE, or --album)")
    _print_hits(cutoff.answer(searcher, asked, args.n), args.json)
    return 0


def cmd_similar(args) -> int:
    from clipdesk.core import cutoff, query

    searcher = _searcher(args)
    image = str(Path(args.image).expanduser().resolve())
    asked = query.parse(" ".join(args.text or []), [image], exclude=[image],
                        negatives=args.negative or [], filters=_filters(args))
    _print_hits(cutoff.answer(searcher, asked, args.n), args.json)
    return 0


def cmd_tags(args) -> int:
    from clipdesk.core import tags

    searcher = _searcher(args)
    labels = tags.label_set(searcher.catalog)
    vectors = tags.label_vectors(searcher.catalog, searcher.model, lambda: searcher.encoder, labels)
    ranked = tags.rank(searcher.image_vector(Path(args.image).expanduser()), labels, vectors, args.n)
    if args.json:
        print(json.dumps([{"label": t, "score": round(s, 6)} for t, s in ranked], indent=1))
    else:
        for label, score in ranked:
            print(f"{score:.4f}\t{label}")
    return 0


def cmd_labels(args) -> int:
    library = _open_library(args)
    texts = [t.strip() for t in args.texts if t.strip()]
    if args.action == "add":
        if not texts:
            raise ClipDeskError("labels add: give at least one label")
        library.catalog.add_labels(texts)
    elif args.action == "remove":
        library.catalog.remove_labels(texts)
    for label in library.catalog.labels():
        print(label)
    return 0


def cmd_albums(args) -> int:
    """Smart albums: list them, save a search as one, rename, delete. Photos are never touched."""
    from dataclasses import replace

    from clipdesk.core import albums, query

    action = args.album_action or "list"
    library = _open_library(args, must_exist=True)
    catalog = library.catalog
    if action == "save":
        filters = _filters(args)
        if filters.folder is not None:
            filters = replace(filters, folder=filters.folder.resolve())
        asked = query.parse(args.text, _query_images("--like", args.like),
                            negatives=args.negative or [], filters=filters,
                            negative_images=_query_images("--unlike", args.unlike))
        album = catalog.save_album(args.name, asked, replace=args.replace)
        print(f"Saved the album “{album.name}”: {albums.describe(album.query)}")
    elif action == "rename":
        old = catalog.album(args.old)
        album = catalog.rename_album(args.old, args.new)
        print(f"Renamed the album “{old.name}” to “{album.name}”.")
    elif action == "delete":
        album = catalog.album(args.name)
        catalog.delete_album(args.name)  # an unknown name: the error, before anything prints
        print(f"Deleted the album “{album.name}” (an album is a saved search: no photo was "
              f"touched).")
    else:
        listed = []
        for album in catalog.albums():
            try:
                asks, saved = albums.describe(album.query), json.loads(album.query_json)
            except ClipDeskError as exc:
                asks, saved = str(exc), None
            listed.append((album.name, asks, saved))
        if args.json:
            print(json.dumps([{"name": n, "asks": a, "query": q} for n, a, q in listed],
                             indent=1, ensure_ascii=False))
        elif not listed:
            print("No albums yet: `clipdesk albums save NAME TEXT [options]` saves a search.")
        for name, asks, _ in [] if args.json else listed:
            print(f"{name}\t{asks}")
    return 0


def cmd_status(args) -> int:
    from clipdesk.core.library import Library
    from clipdesk.core.models import choose_spec
    from clipdesk.core.status import LibraryStatus, library_status

    folder = library_dir(args.library)
    if not Library.exists(folder):
        status = LibraryStatus(str(folder), None)
    else:
        library = Library(folder)
        _opened.append(library)
        status = library_status(library, choose_spec(args.model, library.model_spec))
    if args.json:
        print(json.dumps(status.as_json(), indent=1))
        return 0
    print(f"Library: {status.folder}")
    print(f"Model:   {status.model or '(none yet)'}")
    for r in status.roots:
        where = "" if r.online else "  (folder not found)"
        print(f"  {r.path}: {r.indexed} indexed, {r.pending} pending, {r.failed} failed{where}")
    print(f"Total:   {status.indexed} indexed, {status.pending} pending, "
          f"{len(status.failures)} failed")
    if status.sizes:
        print("On disk: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in status.sizes.items()))
    if status.failures:
        print("Failed photos:")
        for path, reason in status.failures:
            print(f"  {path}: {reason}")
    return 0


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def cmd_duplicates(args) -> int:
    """Exact copies, near copies and similar shots, from the catalog and its stored vectors
    (no CLIP run); reads only, never touches a photo."""
    from clipdesk.core import duplicates, models

    try:
        threshold = None if args.threshold is None else float(args.threshold)
    except ValueError:
        threshold = -1.0
    if threshold is not None and not 0 < threshold <= 1:
        raise ClipDeskError(f"--threshold must be a cosine similarity in (0, 1], not "
                            f"{args.threshold}")
    folder = Path(args.folder).expanduser().resolve() if args.folder else None
    if folder is not None and not folder.is_dir():
        raise ClipDeskError(f"--folder: not a folder: {folder}")
    kinds = duplicates.KINDS if args.kind == "all" else (args.kind,)
    library = _open_library(args, must_exist=True)
    row = None
    if kinds != ("exact",):
        spec = models.choose_spec(args.model, library.model_spec)
        row = library.model_row(spec)
        if row is None or library.catalog.indexed_count(row) == 0:
            raise ClipDeskError(f"the library has no photos indexed with {spec.text}: run "
                                f"`clipdesk index` (or look for exact copies: --kind exact)")
    stale: list[tuple[str, str]] = []
    groups = duplicates.find_groups(library, row, kinds, threshold, folder, stale=stale)
    if stale:
        print(f"note: left out {len(stale)} file(s) that vanished or changed since they were "
              f"indexed; `clipdesk index` checks them again:", file=sys.stderr)
        for path, why in stale:
            print(f"  {path}: {why}", file=sys.stderr)
    if args.json:
        print(json.dumps([g.as_json() for g in groups], indent=1))
        return 0
    names = {"exact": "exact copies", "near": "near copies", "shots": "similar shots"}
    for g in groups:
        print(f"{names[g.kind]}: {len(g.members)} files, {_size(g.wasted)} to free")
        for m in g.members:
            dims = f"{m.width}x{m.height}" if m.width and m.height else "?"
            print(f"  {'keep' if m.path == g.keep else '    '}  {dims:>11s}  {_size(m.size):>9s}"
                  f"  {m.path}")
    counts = ", ".join(f"{sum(g.kind == k for g in groups)} {names[k]}" for k in kinds)
    dup = sum(g.wasted for g in groups if g.kind != "shots")
    print(f"{len(groups)} group(s): {counts}. Removing all but the suggested photo frees "
          f"{_size(dup)} of duplicates"
          + (f" and {_size(sum(g.wasted for g in groups if g.kind == 'shots'))} of similar "
             f"shots" if "shots" in kinds else "") + ".")
    return 0


def _model_form(spec) -> tuple[str, int | None]:
    """(format, bytes on disk) of a model as it is on this computer; bytes None if absent."""
    from clipdesk.core import models

    try:
        onnx = models.model_on_disk(spec)
    except ClipDeskError:
        onnx = None
    if onnx is not None:
        kind = "onnx (exported)" if (onnx.root / "clipdesk_export.json").is_file() else "onnx"
        return kind, onnx.size_on_disk()
    try:
        files = models.locate(spec, download=False)
        return "open_clip", files.weights.stat().st_size
    except ClipDeskError:
        return ("onnx" if spec.immich_repo or spec.kind == "hf-hub" else "open_clip"), None


def cmd_models(args) -> int:
    from clipdesk.core import models

    if args.action == "export":
        return _export_model(args)
    if args.action != "list" or args.rest:
        raise ClipDeskError("models: use `clipdesk models`, `clipdesk models --download SPEC` "
                            "or `clipdesk models export SPEC DIR`")
    if args.download:
        spec = models.ModelSpec.parse(args.download)
        models.onnx_model(spec, download=True)
        print(f"{spec.text} is ready for offline use.")
        return 0
    current = models.choose_spec(args.model, None).text
    specs = [s for s, _ in models.KNOWN_SPECS]
    if current not in specs:
        specs.insert(0, current)
    notes = dict(models.KNOWN_SPECS)
    print(f"  {'model':34s} {'format':16s} {'on disk':>9s}  note")
    for spec_text in specs:
        spec = models.ModelSpec.parse(spec_text)
        form, size = _model_form(spec)
        where = f"{size / 2**20:.0f} MiB" if size is not None else "not here"
        mark = "*" if spec_text == current else " "
        print(f"{mark} {spec_text:34s} {form:16s} {where:>9s}  {notes.get(spec_text, '')}")
    print("\n* = the model used when no --model is given. Also: hf-hub:ORG/REPO, local-dir:PATH."
          "\n`clipdesk models --download SPEC` fetches one for offline use; `clipdesk models "
          "export SPEC DIR` writes an open_clip model as ONNX.")
    return 0


def _export_model(args) -> int:
    from clipdesk.core import export, models
    from clipdesk.core.onnx_encoder import is_onnx_folder

    if len(args.rest) != 2:
        raise ClipDeskError("models export: give a model and a folder: "
                            "clipdesk models export SPEC DIR")
    spec = models.ModelSpec.parse(args.rest[0])
    folder = Path(args.rest[1]).expanduser().resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ClipDeskError(f"models export: {folder} exists and is not an empty folder")
    if spec.kind == "local-dir" and spec.path is not None and is_onnx_folder(spec.path):
        raise ClipDeskError(f"{spec.text} is already an ONNX model")
    export.require_torch(f"exporting {spec.text} to ONNX")
    print(f"Exporting {spec.text} to ONNX in {folder} ...", file=sys.stderr)
    model = export.export_isolated(models.locate(spec, download=True), folder, spec.identity)
    info = json.loads((model.root / "clipdesk_export.json").read_text(encoding="utf-8"))
    agree = info["min_cosine_to_torch"]
    print(f"Exported {spec.text}: {model.size_on_disk() / 2**20:.0f} MiB; agreement with torch: "
          f"cosine >= {agree['image']:.6f} (images), {agree['text']:.6f} (texts). "
          f"Use it with --model local-dir:{folder}")
    return 0


def cmd_selftest(args) -> int:
    """Load the model, embed a generated image and a text, round-trip a temporary library."""
    import numpy as np
    from PIL import Image, ImageDraw

    from clipdesk.core import models
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.library import Library
    from clipdesk.core.search import Searcher

    def step(name: str, ok: bool, detail: str = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return ok

    spec = models.choose_spec(args.model, None)
    try:
        encoder = models.load(spec, device=args.device)
    except ClipDeskError as exc:
        step(f"load model {spec.text}", False, str(exc))
        return 1
    good = step(f"load model {spec.text}", True,
                f"{encoder.dim}-d, {encoder.runtime} on {encoder.device}")
    with tempfile.TemporaryDirectory(prefix="clipdesk-selftest-") as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        for i, colour in enumerate(["red", "green", "blue"]):
            im = Image.new("RGB", (320, 240), "white")
            ImageDraw.Draw(im).ellipse((60, 40, 260, 200), fill=colour)
            im.save(photos / f"{i}-{colour}.jpg", quality=90)
        image_vec = encoder.encode_pil([Image.open(photos / "0-red.jpg")])[0]
        text_vec = encoder.encode_texts(["a red circle"])[0]
        good &= step("embed an image and a text",
                     bool(np.isfinite(image_vec).all() and np.isfinite(text_vec).all()
                          and abs(np.linalg.norm(image_vec) - 1) < 1e-3))
        library = Library(Path(tmp) / "library")
        report = Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
        good &= step("index a temporary library", report.embedded == 3 and not report.failed,
                     f"{report.embedded} photos")
        library.close()
        reopened = Library(Path(tmp) / "library")
        searcher = Searcher(reopened, reopened.model_row(spec), lambda: encoder)
        hits = searcher.search(searcher.query_vector(["a red circle"]), 3)
        good &= step("search the reopened library", len(hits) == 3, hits[0].path if hits else "")
        reopened.close()
    print("selftest passed" if good else "selftest FAILED")
    return 0 if good else 1


# ---------------------------------------------------------------------------- parser


def _common_options(defaults: bool) -> argparse.ArgumentParser:
    """The options every command and the app take. A command's copy has no defaults
    (``defaults=False``), so it does not undo the same option given before the command
    (``clipdesk --basedir D index``)."""
    def default(value):
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", metavar="DIR", default=default(None),
                        help="library folder (default: $CLIPDESK_LIBRARY, BASE/data, or the "
                        "user data folder)")
    common.add_argument("--basedir", metavar="BASE", default=default(None),
                        help="keep the library, settings, logs and cache under this one folder "
                        "(default: $CLIPDESK_HOME; CLIPDESK_LIBRARY, CLIPDESK_CONFIG_DIR and "
                        "CLIPDESK_LOG_DIR still win)")
    common.add_argument("--model", metavar="SPEC", default=default(None),
                        help="ARCH:PRETRAINED, hf-hub:ORG/REPO or local-dir:PATH (default: "
                        "$CLIPDESK_MODEL, the library's model, ViT-B-32:laion2b_s34b_b79k)")
    common.add_argument("--device", default=default("auto"), help="auto (default: ONNX "
                        "Runtime, on an accelerator its build supports, else the CPU), cpu, or "
                        "cuda / mps (torch)")
    common.add_argument("-v", "--verbose", action="store_true", default=default(False),
                        help="log to stderr too")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(defaults=False)

    asks = argparse.ArgumentParser(add_help=False)  # what a query asks (an album saves it)
    asks.add_argument("--min-score", type=float, help="leave out results scoring below this")
    asks.add_argument("--cutoff", metavar="auto|none|SCORE", help="leave out weak matches: "
                      "auto (default) finds where this query's matches end, none keeps all, "
                      "a score keeps those scoring at least that (as --min-score)")
    asks.add_argument("--folder", metavar="DIR", help="only photos under this folder")
    asks.add_argument("--after", type=_date, metavar="DATE", help="taken on or after (YYYY-MM-DD)")
    asks.add_argument("--before", type=_end_of_day, metavar="DATE", help="taken on or before")
    asks.add_argument("--not", dest="negative", action="append", metavar="TEXT",
                      help="push results away from this text (repeatable)")
    query = argparse.ArgumentParser(add_help=False, parents=[asks])
    query.add_argument("-n", type=int, default=20, help="number of results (default 20)")
    query.add_argument("--json", action="store_true", help="print JSON")

    parser = argparse.ArgumentParser(
        prog="clipdesk", parents=[_common_options(defaults=True)],
        description="Find photos by what they show. Without a command, opens the app.")
    parser.add_argument("--version", action="version", version=f"clipdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="add folders and index their photos")
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="folders to add (default: all)")
    p.add_argument("--workers", type=int, help="decoding threads (default: every core)")
    p.add_argument("--batch-size", type=int,
                   help="images per model call (default: 32; 128 on a CUDA GPU)")
    p.add_argument("--int8", action="store_true", help="quantize the image model to int8 on "
                   "the CPU: faster indexing, embeddings close to fp32 (benchmarks/quantization.py)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                   help="skip a photo that takes longer than this to read (default: 60)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("watch", parents=[common], help="keep the library up to date as folders "
                       "change, until Ctrl-C")
    p.add_argument("--workers", type=int, help="decoding threads (default: every core)")
    p.add_argument("--poll-interval", type=float, default=2.0, metavar="S",
                   help="seconds between checks for folders that cannot be watched natively")
    p.add_argument("--int8", action="store_true", help="quantize the image model to int8 on "
                   "the CPU: faster indexing, embeddings close to fp32 (benchmarks/quantization.py)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                   help="skip a photo that takes longer than this to read (default: 60)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("search", parents=[common, query], help="find photos by text, or run "
                       "a smart album (--album)")
    p.add_argument("text", nargs="?", default="")
    p.add_argument("--album", metavar="NAME", help="run this smart album; the other options "
                   "refine it")
    p.add_argument("--like", action="append", metavar="IMAGE", help="and like this image")
    p.add_argument("--unlike", action="append", metavar="IMAGE",
                   help="push results away from this image, and leave it out (repeatable)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", parents=[common, query], help="find photos like an image")
    p.add_argument("image")
    p.add_argument("--text", action="append", metavar="TEXT", help="and matching this text")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("tags", parents=[common], help="describe a photo with labels")
    p.add_argument("image")
    p.add_argument("-n", type=int, default=10, help="number of labels (default 10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tags)

    p = sub.add_parser("labels", parents=[common], help="your own tag labels: list, add, remove")
    p.add_argument("action", choices=["list", "add", "remove"], nargs="?", default="list")
    p.add_argument("texts", nargs="*", metavar="LABEL")
    p.set_defaults(func=cmd_labels)

    p = sub.add_parser("albums", parents=[common], help="smart albums (saved searches): list, "
                       "save, rename, delete; `search --album NAME` runs one")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=cmd_albums, album_action=None)
    actions = p.add_subparsers(dest="album_action", metavar="ACTION")
    a = actions.add_parser("list", parents=[common], help="the albums and what they ask")
    a.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    a = actions.add_parser("save", parents=[common, asks], help="save a search as an album: "
                           "the options `search` takes")
    a.add_argument("name")
    a.add_argument("text", nargs="?", default="", help="what to look for (none: the filters' "
                   "photos, newest first)")
    a.add_argument("--like", action="append", metavar="IMAGE", help="and like this image")
    a.add_argument("--unlike", action="append", metavar="IMAGE",
                   help="push results away from this image, and leave it out (repeatable)")
    a.add_argument("--replace", action="store_true", help="replace an album of that name")
    a = actions.add_parser("rename", parents=[common], help="rename an album")
    a.add_argument("old", metavar="NAME")
    a.add_argument("new", metavar="NEW_NAME")
    a = actions.add_parser("delete", parents=[common], help="delete an album (not its photos)")
    a.add_argument("name")

    p = sub.add_parser("status", parents=[common], help="folders, counts, failures (no model)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("duplicates", parents=[common], help="exact copies, near copies and "
                       "similar shots, with the one to keep (reads only; no model run)")
    p.add_argument("--kind", choices=["exact", "near", "shots", "all"], default="all")
    p.add_argument("--threshold", metavar="T", help="near copies: cosine similarity in (0, 1] "
                   "(default: the model's, 0.95 for CLIP)")
    p.add_argument("--folder", metavar="DIR", help="only photos under this folder")
    p.add_argument("--json", action="store_true", help="print JSON, most space to free first")
    p.set_defaults(func=cmd_duplicates)

    p = sub.add_parser("models", parents=[common], help="known models and which are downloaded; "
                       "`models export SPEC DIR` writes an open_clip model as ONNX")
    p.add_argument("action", choices=["list", "export"], nargs="?", default="list")
    p.add_argument("rest", nargs="*", metavar="SPEC DIR", help="for export: the model and a folder")
    p.add_argument("--download", metavar="SPEC", help="download a model now for offline use")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("selftest", parents=[common], help="check the model and a library work")
    p.set_defaults(func=cmd_selftest)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (exit 2)
        return int(exc.code or 0)
    use_base_dir(args.basedir)  # before anything asks where a folder is
    log_path = setup_logging(args.verbose)
    if args.command is None:  # no command: the desktop app
        try:
            from clipdesk.ui.app import run_app
        except ImportError as exc:
            print(f"clipdesk: error: the desktop app cannot start ({exc}); the commands still "
                  "work: clipdesk --help", file=sys.stderr)
            return 2
        try:
            return run_app(args.library, args.model, args.device, log_path=log_path)
        except ClipDeskError as exc:
            print(f"clipdesk: error: {exc}", file=sys.stderr)
            return 2
    if getattr(args, "time_limit", 1) <= 0:
        print("clipdesk: error: --time-limit must be more than 0 seconds", file=sys.stderr)
        return 2
    for name in ("n", "workers", "batch_size"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(f"clipdesk: error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except ClipDeskError as exc:  # the user's to act on: a message, not a fault of ours
        log.info("stopped: %s", exc)
        print(f"clipdesk: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        log.exception("unexpected error")
        where = f" (details in {log_path})" if log_path else ""
        print(f"clipdesk: unexpected error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return 1
    finally:
        while _opened:
            _opened.pop().close()
