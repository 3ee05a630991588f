"""Errors the user can act on: the CLI prints their message on one line and exits 2."""


class ClipDeskError(Exception):
    """A problem the user can fix (bad argument, missing model, unreadable library)."""


class ModelUnavailable(ClipDeskError):
    """The model's weights are not on this machine and cannot be fetched now."""


class UnsafeCheckpoint(ClipDeskError):
    """A checkpoint that would run code when loaded."""


class LibraryError(ClipDeskError):
    """The library folder cannot be opened or is from a newer ClipDesk."""


class LibraryBusy(LibraryError):
    """Another process is updating the library (it holds the writer lock)."""
