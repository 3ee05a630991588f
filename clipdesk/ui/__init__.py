"""The desktop app: a PySide6 face on ``clipdesk.core``.

One module per concern: ``app`` (start-up, one window per library, logging, Ctrl-C),
``crash`` (the unexpected-error dialog), ``workers`` (QRunnable jobs and generations),
``engine`` (the library, the model and the thread pools), ``query`` (what the search bar
means), ``images`` (photos as QImages through ClipDesk's own decoder: every picture shown
from a file), ``thumbnails`` (off-thread thumbnail loading and the pixmap cache), ``results`` (the
grid's model, delegate and view), ``searchbar``, ``mainwindow``, ``preview``, ``folders``,
``welcome``, ``settings``, ``statusbar``, ``desktop`` (open, show in folder, clipboard) and
``icon``. The core never imports this package, and nothing on the path to the first paint
imports torch.
"""
