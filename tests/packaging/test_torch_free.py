"""The installers carry no torch: the spec keeps the torch stack out, and the build's smoke
model is an ONNX model made and run without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipdesk.core import models

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
TORCH_STACK = ("torch", "torchvision", "open_clip", "triton", "nvidia", "safetensors",
               "transformers", "timm")


class FakeAnalysis:
    """PyInstaller's Analysis, recording what the spec asks for."""

    def __init__(self, scripts, **kw):
        self.kw = kw
        self.scripts, self.pure, self.binaries = scripts, [], list(kw.get("binaries") or [])
        self.datas = list(kw.get("datas") or [])


def run_spec(tmp_path, monkeypatch, *args: str) -> dict:
    """Execute packaging/clipdesk.spec as PyInstaller would, with PyInstaller stubbed out
    (fast, and no PyInstaller needed); returns the spec's namespace."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda *a, **k: []
    hooks.collect_submodules = lambda name, **k: [name]
    hooks.copy_metadata = lambda *a, **k: []
    for name, module in (("PyInstaller", types.ModuleType("PyInstaller")),
                         ("PyInstaller.utils", types.ModuleType("PyInstaller.utils")),
                         ("PyInstaller.utils.hooks", hooks)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "argv", ["clipdesk.spec", "--icons", str(tmp_path / "icons"), *args])
    monkeypatch.setattr(sys, "platform", "linux")  # the .deb's build; no Windows resources
    stub = lambda *a, **k: types.SimpleNamespace(args=a, kw=k)  # noqa: E731
    namespace = {"SPECPATH": str(PACKAGING), "DISTPATH": str(tmp_path / "dist"),
                 "workpath": str(tmp_path / "work"),
                 "__file__": str(PACKAGING / "clipdesk.spec"), "__name__": "__main__",
                 "Analysis": FakeAnalysis, "PYZ": stub, "EXE": stub, "COLLECT": stub,
                 "BUNDLE": stub}
    code = compile((PACKAGING / "clipdesk.spec").read_text(encoding="utf-8"), "clipdesk.spec",
                   "exec")
    exec(code, namespace)
    return namespace


def test_spec_excludes_the_torch_stack_and_collects_onnx_runtime(tmp_path, monkeypatch):
    spec = run_spec(tmp_path, monkeypatch)
    analysis = spec["a"]
    excludes = set(analysis.kw["excludes"])
    assert set(TORCH_STACK) <= excludes
    assert not {"onnxruntime", "onnx", "tokenizers", "ftfy"} & excludes
    assert "onnxruntime.quantization" in analysis.kw["hiddenimports"]  # index --int8
    assert "--keep-cuda" not in (PACKAGING / "clipdesk.spec").read_text()
    assert "open_clip" not in analysis.kw.get("module_collection_mode", {})
    text = (PACKAGING / "clipdesk.spec").read_text()
    assert 'collect_data_files("open_clip")' not in text
    assert 'collect_dynamic_libs("torchvision"' not in text


@pytest.mark.parametrize("module, binary, forbidden", [
    ("torch.nn.functional", None, True),
    ("open_clip.model", None, True),
    ("triton.language", None, True),
    (None, "nvidia/cublas/lib/libcublas.so.12", True),
    (None, "torch/lib/libtorch_cpu.so", True),
    (None, "libc10.so", True),
    # look-alikes that belong in the bundle
    ("onnxruntime.capi._pybind_state", None, False),
    ("tokenizers.models", None, False),
    (None, "PySide6/Qt/plugins/wayland-graphics-integration-client/libshm-emulation-server.so",
     False),
    (None, "numkong.libs/libgomp-6a29c32d.so.1.0.0", False),
    (None, "onnxruntime/capi/libonnxruntime_providers_shared.so", False),
])
def test_spec_stops_a_build_that_would_carry_torch(tmp_path, monkeypatch, module, binary,
                                                   forbidden):
    spec = run_spec(tmp_path, monkeypatch)
    analysis = FakeAnalysis([])
    if module:
        analysis.pure = [(module, "/site-packages/x.py", "PYMODULE")]
    if binary:
        analysis.binaries = [(binary, "/site-packages/" + binary, "BINARY")]
    if forbidden:
        with pytest.raises(SystemExit, match="torch stack"):
            spec["check_torch_free"](analysis)
    else:
        spec["check_torch_free"](analysis)


def test_spec_bundles_an_onnx_model_and_refuses_an_open_clip_one(build_script, tmp_path,
                                                                 monkeypatch):
    onnx_dir = build_script.make_smoke_model(tmp_path / "onnx-model")
    spec = run_spec(tmp_path, monkeypatch, "--bundle-model", str(onnx_dir))
    assert (str(onnx_dir.resolve()), "model") in spec["a"].kw["datas"]

    open_clip_dir = tmp_path / "open-clip-model"
    open_clip_dir.mkdir()
    (open_clip_dir / "open_clip_config.json").write_text("{}")
    (open_clip_dir / "open_clip_model.safetensors").write_bytes(b"")
    with pytest.raises(SystemExit, match="clipdesk models export"):
        run_spec(tmp_path, monkeypatch, "--bundle-model", str(open_clip_dir))
    with pytest.raises(SystemExit, match="not an ONNX model folder"):
        run_spec(tmp_path, monkeypatch, "--bundle-model", str(tmp_path / "icons"))


def test_smoke_model_loads_and_encodes_into_unit_vectors(build_script, tmp_path):
    folder = build_script.make_smoke_model(tmp_path / "smoke")
    for name in ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json",
                 "textual/model.onnx", "textual/tokenizer.json", "textual/tokenizer_config.json"):
        assert (folder / name).is_file(), name
    encoder = models.load(models.ModelSpec.parse(f"local-dir:{folder}"), device="cpu")
    assert encoder.runtime == "onnx" and encoder.dim == 64 and encoder.image_size == 32

    images = encoder.encode_pil([Image.new("RGB", (320, 240), "red"),
                                 Image.new("RGB", (100, 300), "blue")])
    texts = encoder.encode_texts(["a red circle", "A photo of a DOG on the beach!", ""])
    assert images.shape == (2, 64) and texts.shape == (3, 64)
    assert images.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert abs(float(images[0] @ images[1])) < 0.99  # the picture matters
    assert abs(float(texts[0] @ texts[1])) < 0.99  # so do the words
    assert encoder.tokenizer.kind == "hf"  # a tokenizers-library tokenizer, not CLIP's BPE
    assert build_script.make_smoke_model(folder) == folder  # made once


def test_smoke_model_is_made_and_run_without_torch(tmp_path):
    """As in the build's environment: torch and open_clip cannot be imported."""
    code = textwrap.dedent(f"""
        import sys
        for name in ("torch", "torchvision", "open_clip", "safetensors"):
            sys.modules[name] = None  # import fails, as where it is not installed
        sys.path.insert(0, {str(PACKAGING)!r})
        from pathlib import Path
        from PIL import Image
        from smoke_model import make_smoke_model
        from clipdesk.core import models
        folder = make_smoke_model(Path({str(tmp_path / "m")!r}))
        enc = models.load(models.ModelSpec.parse(f"local-dir:{{folder}}"), device="cpu")
        print(enc.encode_texts(["a red circle"]).shape, enc.encode_pil([Image.new("RGB", (40, 40))]).shape)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(1,", "64)", "(1,", "64)"]


def test_macos_minimum_follows_the_bundled_wheels(tmp_path, monkeypatch):
    """ONNX Runtime's arm64 wheel (macosx_14_0) raises the .app's LSMinimumSystemVersion."""
    spec = run_spec(tmp_path, monkeypatch)
    floor = spec["macos_floor"]
    assert floor(["cp311-cp311-macosx_14_0_arm64"]) == (14, 0)
    assert floor(["cp311-cp311-macosx_10_9_universal2", "cp311-cp311-macosx_11_0_arm64"]) == (10, 9)
    assert floor(["cp311-cp311-manylinux_2_28_x86_64"]) is None
    minimum = spec["macos_minimum"]()
    assert tuple(int(n) for n in minimum.split(".")) >= (11, 0)  # never below 11.0
