"""The offline edition: a model folder inside the frozen bundle is found and used."""

from __future__ import annotations

import sys

from clipdesk.core import models
from clipdesk.core.paths import BUNDLED_MODEL_FOLDER, bundled_model_dir


def _frozen(monkeypatch, base):
    """What PyInstaller's bootloader sets: sys.frozen and the data folder sys._MEIPASS."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(base), raising=False)


# The installers carry no torch, so the offline edition ships an ONNX-layout model (the spec
# refuses an open_clip folder), which clipdesk.core.paths.bundled_model_dir finds.
def test_bundled_model_is_found_where_the_spec_puts_it(build_script, tmp_path, monkeypatch):
    assert bundled_model_dir() is None  # not frozen
    _frozen(monkeypatch, tmp_path)
    assert bundled_model_dir() is None  # frozen, but the online edition: no model folder
    folder = build_script.make_smoke_model(tmp_path / BUNDLED_MODEL_FOLDER)
    assert bundled_model_dir() == folder
    assert bundled_model_dir(tmp_path) == folder

    spec = models.choose_spec(None, None)
    assert spec.kind == "local-dir" and spec.path == folder.resolve()
    encoder = models.load(spec, device="cpu", download=False)
    assert encoder.encode_texts(["a red circle"]).shape == (1, 64)

    # a model the user or the library names still wins over the bundled one
    assert models.choose_spec(None, "ViT-B-32:openai").text == "ViT-B-32:openai"
    monkeypatch.setenv("CLIPDESK_MODEL", "ViT-B-16:dfn2b")
    assert models.choose_spec(None, None).text == "ViT-B-16:dfn2b"


def test_unfrozen_app_uses_the_default_model(tmp_path):
    (tmp_path / BUNDLED_MODEL_FOLDER).mkdir()
    assert models.choose_spec(None, None).text == models.DEFAULT_SPEC
    assert bundled_model_dir(tmp_path) is None  # a folder without a config is no model
