"""The first run's model step: missing model, the offline explanation, downloading with a
progress bar, and Cancel; against a small Hugging Face Hub lookalike on 127.0.0.1 that serves
a tiny real open_clip model slowly enough to watch."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from uihelpers import wait_ready

from clipdesk.ui.engine import ModelState

REPO = "clipdesk-test/tiny"
COMMIT = hashlib.sha1(b"clipdesk-ui-test").hexdigest()


class SlowHub(ThreadingHTTPServer):
    """``HEAD``/``GET /{repo}/resolve/{rev}/{file}`` like huggingface.co, sending file bodies in
    small pieces with pauses (``delay`` seconds per piece)."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes], delay: float):
        self.files, self.delay = files, delay
        self.cancelled_bodies = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: SlowHub

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(False)

    def do_GET(self):
        self._serve(True)

    def _serve(self, body: bool) -> None:
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path.split("?")[0])
        data = self.server.files.get(match.group(3)) if match and match.group(1) == REPO else None
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound" if match else "RepoNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if not body:
            return
        piece = max(1, len(data) // 40)
        try:
            for start in range(0, len(data), piece):
                self.wfile.write(data[start:start + piece])
                self.wfile.flush()
                time.sleep(self.server.delay)
        except (BrokenPipeError, ConnectionResetError):
            self.server.cancelled_bodies += 1


@pytest.fixture
def hub(random_model, monkeypatch, tmp_path):
    """The fake Hub, and huggingface_hub pointed at it with a fresh cache."""
    from huggingface_hub import constants

    folder = Path(random_model.removeprefix("local-dir:"))
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    server = SlowHub(files, delay=0.05)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)  # progress in small steps
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    yield server
    server.shutdown()
    server.server_close()


def test_a_missing_model_offers_download_and_explains_offline_use(qtbot, open_window, tmp_path,
                                                                  hub):
    window = open_window(tmp_path / "lib", model=f"hf-hub:{REPO}")
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.MISSING, timeout=30_000)
    assert window.pages.currentWidget() is window.welcome
    panel = window.welcome.model_panel
    assert panel.download_button.isVisible() and panel.folder_button.isVisible()
    assert "local-dir:PATH" in panel.offline_label.text()
    assert "not on this computer" in panel.state_label.text()
    assert "not downloaded" in window.model_label.text()


@pytest.mark.slow
def test_download_with_progress_then_the_model_is_ready(qtbot, open_window, tmp_path, hub):
    window = open_window(tmp_path / "lib", model=f"hf-hub:{REPO}")
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.MISSING, timeout=30_000)
    panel = window.welcome.model_panel
    progress: list[tuple[str, int, int]] = []
    window.engine.downloadProgress.connect(lambda *a: progress.append(a))
    qtbot.mouseClick(panel.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.cancel_button.isVisible() and len(progress) > 3,
                    timeout=30_000)
    assert panel.progress.isVisible()
    assert "Downloading" in panel.state_label.text()
    wait_ready(qtbot, window)
    weights = [p for p in progress if p[0].endswith(".safetensors")]
    assert weights and weights[-1][1] == weights[-1][2] == len(hub.files[
        "open_clip_model.safetensors"])
    assert panel.progress.value() > 0
    assert not panel.cancel_button.isVisible()


def test_cancel_stops_the_download(qtbot, open_window, tmp_path, hub):
    window = open_window(tmp_path / "lib", model=f"hf-hub:{REPO}")
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.MISSING, timeout=30_000)
    panel = window.welcome.model_panel
    with qtbot.waitSignal(window.engine.downloadProgress, timeout=30_000):
        qtbot.mouseClick(panel.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.cancel_button.isVisible())
    started = time.monotonic()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.MISSING, timeout=10_000)
    assert time.monotonic() - started < 5  # within a chunk, not at the end of the file
    assert panel.state_label.text() == "Download cancelled."
    assert panel.download_button.isVisible()
    assert not list((tmp_path / "hf-cache").rglob("open_clip_model.safetensors"))
