"""The desktop app: a PySide6 face on ``clipdesk.core``.

One module per concern: ``app`` (start-up, single instance, logging), ``crash`` (the
unexpected-error dialog), ``workers`` (QRunnable jobs), ``engine`` (the library, the model
and the thread pools), ``thumbnails`` (off-thread thumbnail loading and the pixmap cache),
``results`` (the grid), ``searchbar``, ``mainwindow``, ``preview``, ``folders``, ``welcome``,
``settings``, ``statusbar``, ``desktop`` (open / show in folder). Nothing here is imported by
the core, and nothing on the path to the first paint imports torch.
"""
