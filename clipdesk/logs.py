"""The log folder, for the command line and the app alike (no Qt here).

``clipdesk.log`` gets everything at INFO and above, with tracebacks (rotated at 2 MB, three
kept); ``-v`` copies it to stderr. ``crash.log`` gets what Python can still say when the
process dies in native code (a segfault in Qt, Shiboken or a native library): faulthandler's
traceback of every thread. It is opened in append mode and kept open for the life of the
process, because at that moment nothing can be opened any more; the app shows what is new in
it at the next launch (``clipdesk.ui.crash``).
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
from pathlib import Path
from typing import TextIO

from clipdesk.core.paths import log_dir

LOG_FILE = "clipdesk.log"
CRASH_FILE = "crash.log"
CRASH_SEEN = "crash.log.seen"  # how much of crash.log the app has already shown

_handlers: list[logging.Handler] = []
_crash_file: TextIO | None = None


def setup_logging(verbose: bool = False, folder: Path | None = None) -> Path | None:
    """Log to ``clipdesk.log`` in ``folder`` (default: ``log_dir()``) and send hard crashes to
    ``crash.log`` beside it; with ``verbose``, log to stderr too. Returns the log file, or None
    when the folder cannot be written (then nothing is logged to a file).

    Safe to call again (tests, the app after the command line): the previous handlers go.
    """
    folder = Path(folder) if folder is not None else log_dir()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    while _handlers:
        handler = _handlers.pop()
        root.removeHandler(handler)
        handler.close()
    path = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOG_FILE
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3,
                                                       encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        _handlers.append(handler)
    except OSError:
        _handlers.append(logging.NullHandler())
    if verbose:
        err = logging.StreamHandler()
        err.setLevel(logging.INFO)
        err.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        _handlers.append(err)
    for handler in _handlers:
        root.addHandler(handler)
    if path is not None:
        enable_crash_log(folder)
    return path


def enable_crash_log(folder: Path) -> Path | None:
    """Point faulthandler at ``folder/crash.log``; returns it, or None if it is not ours.

    Left alone when someone else turned faulthandler on first (``python -X faulthandler``,
    ``PYTHONFAULTHANDLER``, pytest): they asked for the traceback where they look.
    """
    global _crash_file
    if faulthandler.is_enabled() and _crash_file is None:
        return None
    path = Path(folder) / CRASH_FILE
    if _crash_file is not None and Path(_crash_file.name) == path:
        return path
    try:
        crash_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open while we live)
    except OSError as exc:
        logging.getLogger(__name__).info("no crash log (%s): %s", path, exc)
        return None
    faulthandler.enable(crash_file, all_threads=True)
    if _crash_file is not None:
        _crash_file.close()
    _crash_file = crash_file
    return path


def new_crash_report(folder: Path) -> str | None:
    """What ``crash.log`` in ``folder`` gained since this was last asked (and remember that it
    has been seen), or None. Several processes share the file; each appends only when it dies.
    """
    path = Path(folder) / CRASH_FILE
    seen_path = Path(folder) / CRASH_SEEN
    try:
        size = path.stat().st_size
    except OSError:
        return None
    try:
        seen = int(seen_path.read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        seen = 0
    if seen > size:  # the file was emptied or replaced: all of it is new
        seen = 0
    if size == seen:
        return None
    try:
        with open(path, "rb") as f:
            f.seek(seen)
            text = f.read(size - seen).decode("utf-8", "replace")
        seen_path.write_text(str(size), encoding="ascii")
    except OSError:
        return None
    return text.strip() or None
