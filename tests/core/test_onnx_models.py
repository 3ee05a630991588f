"""CLIP on ONNX Runtime: ClipDesk's exports, Immich's layout, multilingual text towers, and
model files that must be refused. Real tiny open_clip models, exported with torch and
compared with torch on images and texts."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from notorch import BLOCK_TORCH

import tinyclip
from clipdesk.core import models
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.paths import library_dir

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["a red circle", "kids on a beach at sunset", "", "Zürich's café, 猫 🐶!",
         " ".join(["a photo of my dog"] * 30)]  # over the context length: truncated
TINY_VIT_CFG: dict = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
NARROW_CFG: dict = {  # another model, 32-d: its towers do not fit with a 64-d model's
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 1, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


def _images(n: int = 6):
    rng = np.random.default_rng(3)
    return [tinyclip.draw_shape(*tinyclip.CLASSES[i % len(tinyclip.CLASSES)], rng,
                                size=(80 + 10 * i, 64)) for i in range(n)]


def _save(cfg: dict, folder: Path, seed: int = 0) -> Path:
    import open_clip
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.model.CLIP(**cfg)
    return models.save_local_dir(model, cfg, folder)


@pytest.fixture(scope="module")
def vit_model(tmp_path_factory) -> str:
    return f"local-dir:{_save(TINY_VIT_CFG, tmp_path_factory.mktemp('vit'))}"


@pytest.fixture(scope="module")
def immich_model(tmp_path_factory, random_model) -> str:
    """The random tiny model in Immich's exact layout (fixed batch 1, texts padded to 77)."""
    source = Path(random_model.removeprefix("local-dir:"))
    return f"local-dir:{tinyclip.immich_layout(source, tmp_path_factory.mktemp('immich'))}"


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1)


# --------------------------------------------------------------------------- agreement


@pytest.mark.parametrize("which", ["resnet", pytest.param("vit", marks=pytest.mark.slow)])
def test_export_gives_torch_embeddings(which, random_model, vit_model):
    spec = models.ModelSpec.parse(random_model if which == "resnet" else vit_model)
    onnx = models.load(spec, device="cpu")
    ref = models.load(spec, device="cpu", runtime="torch")
    assert (onnx.runtime, ref.runtime) == ("onnx", "torch")
    assert onnx.identity == ref.identity == spec.text  # one model in the catalog
    images = _images()
    assert _cos(onnx.encode_pil(images), ref.encode_pil(images)).min() >= 0.9999
    got, want = onnx.encode_texts(TEXTS), ref.encode_texts(TEXTS)
    assert _cos(got, want).min() >= 0.9999
    for i, text in enumerate(TEXTS):  # alone, each runs only up to its own end token
        assert _cos(onnx.encode_texts([text]), want[i : i + 1]).min() >= 0.9999
    info = json.loads((onnx.onnx.root / "clipdesk_export.json").read_text())
    assert info["identity"] == spec.text and info["text_truncatable"] is True
    assert min(info["min_cosine_to_torch"].values()) >= 0.9999


def test_exports_keep_batch_and_text_length_dynamic(vit_model):
    encoder = models.load(models.ModelSpec.parse(vit_model), device="cpu")
    encoder.load_text()
    encoder.load_image()
    text = encoder._text.get_inputs()[0]
    image = encoder._image.get_inputs()[0]
    assert text.name == "text" and text.type == "tensor(int32)"
    assert all(isinstance(d, str) for d in text.shape)  # batch and length
    assert isinstance(image.shape[0], str) and image.shape[1:] == [3, 32, 32]
    assert encoder.encode_images(np.zeros((5, 3, 32, 32), np.float32)).shape == (5, 64)


def test_the_search_path_loads_only_the_text_tower(vit_model):
    encoder = models.load(models.ModelSpec.parse(vit_model), device="cpu")
    encoder.encode_texts(["a dog"])
    assert encoder._text is not None and encoder._image is None
    encoder.encode_pil(_images(1))
    assert encoder._image is not None and encoder.image_calls == 1


def test_immich_layout_loads_as_published_and_matches_torch(immich_model, random_model):
    folder = Path(immich_model.removeprefix("local-dir:"))
    assert not (folder / "clipdesk_export.json").exists()
    onnx = models.load(models.ModelSpec.parse(immich_model), device="cpu")
    ref = models.load(models.ModelSpec.parse(random_model), device="cpu", runtime="torch")
    assert onnx.dim == ref.dim == 64
    images = _images(5)  # batches go through a graph fixed at batch 1, one at a time
    assert _cos(onnx.encode_pil(images), ref.encode_pil(images)).min() >= 0.9999
    assert _cos(onnx.encode_texts(TEXTS), ref.encode_texts(TEXTS)).min() >= 0.9999
    assert onnx._text.get_inputs()[0].shape == [1, 77]  # padded to the context, as Immich


def test_immich_names_are_the_models_they_export():
    spec = models.ModelSpec.parse(models.DEFAULT_SPEC)
    assert spec.immich_repo == "immich-app/ViT-B-32__laion2b-s34b-b79k"
    assert models.ModelSpec.parse(f"hf-hub:{spec.immich_repo}").identity == models.DEFAULT_SPEC
    assert models.ModelSpec.parse("hf-hub:immich-app/ViT-B-32__openai").identity == "ViT-B-32:openai"
    assert models.ModelSpec.parse("ViT-B-16:dfn2b").immich_repo is None  # exported instead


def test_switching_runtime_keeps_the_index(cli, trained_model, shapes_folder, monkeypatch):
    """Indexed on torch, searched on ONNX, indexed again on ONNX: nothing runs CLIP again,
    and the trained model ranks every class first on both runtimes."""
    monkeypatch.setenv("CLIPDESK_RUNTIME", "torch")
    assert cli("index", shapes_folder, "--model", trained_model).code == 0
    by_runtime = {}
    for runtime in ("torch", "onnx"):
        monkeypatch.setenv("CLIPDESK_RUNTIME", runtime)
        by_runtime[runtime] = [cli("search", tinyclip.caption(c, s), "-n", "2", "--json").json()
                               for c, s in tinyclip.CLASSES]
    for (color, shape), hits in zip(tinyclip.CLASSES, by_runtime["onnx"], strict=True):
        assert [Path(h["path"]).name.rsplit("-", 1)[0] for h in hits] == [f"{color}-{shape}"] * 2
    for a, b in zip(by_runtime["torch"], by_runtime["onnx"], strict=True):
        assert [h["path"] for h in a] == [h["path"] for h in b]
        assert np.allclose([h["score"] for h in a], [h["score"] for h in b], atol=1e-3)
    res = cli("index")  # ONNX now: the photos are indexed for this model already
    assert res.code == 0 and " 0 embedded" in res.out
    # the export's own folder, named directly, is the same model too
    export = models.model_on_disk(models.ModelSpec.parse(trained_model)).root
    res = cli("search", "a photo of a red circle", "-n", "1", "--model", f"local-dir:{export}")
    assert res.code == 0 and "red-circle" in res.out


# --------------------------------------------------------------------------- multilingual


def _multilingual_model(folder: Path) -> tuple[Path, object, object]:
    """A tiny model whose text tower is a Hugging Face style encoder (``input_ids`` and
    ``attention_mask``, mean-pooled), with a WordPiece tokenizer trained on English and
    German captions; returns (folder, text module, tokenizer)."""
    import torch
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors, trainers
    from tokenizers import models as tk_models

    captions = [f"{a} {c}" for c in ("car", "house", "dog", "boat") for a in
                ("a red", "a blue", "a small")] + \
               [f"{a} {c}" for c in ("Auto", "Haus", "Hund", "Boot") for a in
                ("ein rotes", "ein blaues", "ein kleines")]
    tokenizer = Tokenizer(tk_models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(captions * 3, trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    (folder / "textual").mkdir(parents=True)
    (folder / "visual").mkdir()
    tokenizer.save(str(folder / "textual" / "tokenizer.json"))
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": "[PAD]"}))
    (folder / "config.json").write_text(json.dumps(
        {"embed_dim": 32, "vision_cfg": {"image_size": 32},
         "text_cfg": {"context_length": 16, "hf_tokenizer_name": "tiny-bilingual"}}))
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps({"size": 32}))

    class Text(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(tokenizer.get_vocab_size(), 48)
            self.proj = torch.nn.Linear(48, 32)

        def forward(self, input_ids, attention_mask):
            x = self.embed(input_ids.long())
            m = attention_mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1)
            return torch.nn.functional.normalize(self.proj(pooled), dim=-1)

    class Image(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)
            self.proj = torch.nn.Linear(8 * 8 * 8, 32)

        def forward(self, image):
            return torch.nn.functional.normalize(self.proj(self.conv(image).flatten(1)), dim=-1)

    torch.manual_seed(0)
    text, image = Text().eval(), Image().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        ids = torch.ones(2, 16, dtype=torch.int64)
        torch.onnx.export(text, (ids, ids), str(folder / "textual" / "model.onnx"),
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "b", 1: "n"},
                                        "attention_mask": {0: "b", 1: "n"}},
                          opset_version=17, dynamo=False)
        torch.onnx.export(image, (torch.zeros(1, 3, 32, 32),), str(folder / "visual" / "model.onnx"),
                          input_names=["image"], output_names=["embedding"],
                          dynamic_axes={"image": {0: "b"}}, opset_version=17, dynamo=False)
    return folder, text, tokenizer


def test_multilingual_text_tower_takes_ids_and_mask(tmp_path, cli, shapes_folder):
    import torch

    folder, text, tokenizer = _multilingual_model(tmp_path / "bilingual")
    encoder = models.load(models.ModelSpec.parse(f"local-dir:{folder}"), device="cpu")
    queries = ["ein rotes Auto", "a small blue boat", "ein kleines Haus und ein Hund"]
    got = encoder.encode_texts(queries)
    ids = torch.tensor([[*e.ids, *[0] * (16 - len(e.ids))]  # [PAD] is 0
                        for e in tokenizer.encode_batch(queries)])
    with torch.no_grad():
        want = text(ids, (ids != 0).long()).numpy()
    assert _cos(got, want).min() >= 0.9999
    assert encoder._text_feeds == [("input_ids", np.int64), ("attention_mask", np.int64)]
    # the mask is honoured: a text alone and in a batch with a longer one agree
    alone = encoder.encode_texts(["ein rotes Auto"])
    assert _cos(alone, got[:1]).min() >= 0.9999
    assert _cos(encoder.encode_texts(["a red car"]), alone).min() < 0.9999  # not all equal
    res = cli("index", shapes_folder, "--model", f"local-dir:{folder}")
    assert res.code == 0, res.err
    hits = cli("search", "ein rotes Auto", "--json").json()
    assert len(hits) == 20


# --------------------------------------------------------------------------- bad model files


def _library_state(library: Path) -> tuple:
    if not (library / "catalog.sqlite3").exists():
        return ()
    db = sqlite3.connect(library / "catalog.sqlite3")
    try:
        rows = db.execute("SELECT path, status, hash FROM files ORDER BY path").fetchall()
        models_ = db.execute("SELECT spec, dim FROM models ORDER BY id").fetchall()
        meta = db.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    finally:
        db.close()
    index = sorted((p.name, p.read_bytes()) for p in (library / "index").glob("*"))
    return rows, models_, meta, index


def _break(kind: str, folder: Path, tmp_path: Path) -> None:
    """Damage a model folder in place, as a disk error or a bad download would."""
    if kind == "truncated-onnx":
        path = folder / "textual" / "model.onnx"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "no-tokenizer":
        (folder / "textual" / "tokenizer.json").unlink()
    elif kind == "no-config":
        (folder / "config.json").unlink()
    elif kind == "towers-disagree":
        narrow = tinyclip.immich_layout(_save(NARROW_CFG, tmp_path / "narrow-src"),
                                        tmp_path / "narrow")
        shutil.rmtree(folder / "textual")
        shutil.copytree(narrow / "textual", folder / "textual")
    elif kind == "custom-op":
        import onnx
        from onnx import TensorProto, helper

        node = helper.make_node("MysteryEncoder", ["text"], ["embedding"],
                                domain="com.example.custom")
        graph = helper.make_graph(
            [node], "custom", [helper.make_tensor_value_info("text", TensorProto.INT32, [1, 77])],
            [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 64])])
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                        helper.make_opsetid("com.example.custom", 1)])
        onnx.save(proto, str(folder / "textual" / "model.onnx"))


BAD = {
    "truncated-onnx": "damaged or incomplete",
    "no-tokenizer": "textual/tokenizer.json",
    "no-config": "config.json",
    "towers-disagree": "inconsistent",
    "custom-op": "custom-op",
}


@pytest.mark.parametrize("kind", BAD)
def test_bad_model_files_are_one_line_and_leave_the_library(kind, cli, immich_model, tmp_path,
                                                            shapes_folder):
    """The library's own model folder is damaged after indexing: every command that needs
    the model says what is wrong in one line, exits 2, and changes nothing (a photo added
    since is not recorded either: the model opens before the library is written)."""
    folder = tmp_path / "model"
    shutil.copytree(immich_model.removeprefix("local-dir:"), folder)
    photos = tmp_path / "photos"
    shutil.copytree(shapes_folder, photos)
    assert cli("index", photos, "--model", f"local-dir:{folder}").code == 0
    library = library_dir()
    before = _library_state(library)
    _break(kind, folder, tmp_path)
    tinyclip.draw_shape("red", "square", np.random.default_rng(1), size=(120, 90)).save(
        photos / "new-since.jpg")
    for args in (["index"], ["search", "a dog"], ["tags", photos / "red-circle-0.jpg"]):
        res = cli(*args)
        errors = [line for line in res.err.splitlines() if line.startswith("clipdesk: error:")]
        assert res.code == 2 and len(errors) == 1, (args, res.err)
        assert BAD[kind] in errors[0], errors[0]
        assert "Traceback" not in res.err
        assert _library_state(library) == before


def test_a_damaged_image_tower_stops_indexing_but_not_searching(cli, immich_model, tmp_path,
                                                               shapes_folder):
    folder = tmp_path / "model"
    shutil.copytree(immich_model.removeprefix("local-dir:"), folder)
    photos = tmp_path / "photos"
    shutil.copytree(shapes_folder, photos)
    assert cli("index", photos, "--model", f"local-dir:{folder}").code == 0
    visual = folder / "visual" / "model.onnx"
    visual.write_bytes(visual.read_bytes()[:1000])
    assert cli("index").code == 0  # nothing new: the image tower is not even opened
    tinyclip.draw_shape("red", "square", np.random.default_rng(1), size=(120, 90)).save(
        photos / "new-since.jpg")
    res = cli("index")
    assert res.code == 2 and "damaged or incomplete" in res.err
    assert len(cli("search", "a red circle", "--json").json()) == 20  # the text tower is fine


# --------------------------------------------------------------------------- without torch

NO_TORCH = BLOCK_TORCH + """
from clipdesk.cli import main
code = main(sys.argv[1:])
assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "open_clip")], "torch loaded"
sys.exit(code)
"""


def _no_torch(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(NO_TORCH), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_index_search_similar_tags_and_watch_run_without_torch(trained_model, shapes_folder,
                                                               tmp_path):
    """The whole CLI on an ONNX model with torch unimportable: index, search, similar, tags,
    selftest; and a clear exit 2 where only torch would do (an export, --device cuda)."""
    export = models.load(models.ModelSpec.parse(trained_model), device="cpu").onnx.root
    model = f"local-dir:{export}"
    res = _no_torch("index", shapes_folder, "--model", model)
    assert res.returncode == 0 and "24 embedded" in res.stdout, res.stderr
    hits = json.loads(_no_torch("search", "a photo of a green triangle", "-n", "2",
                                "--json").stdout)
    assert [Path(h["path"]).name.rsplit("-", 1)[0] for h in hits] == ["green-triangle"] * 2
    hits = json.loads(_no_torch("similar", shapes_folder / "blue-square-0.jpg", "-n", "1",
                                "--json").stdout)
    assert Path(hits[0]["path"]).name == "blue-square-1.png"
    tags = _no_torch("tags", shapes_folder / "red-circle-0.jpg", "--json")
    assert tags.returncode == 0 and len(json.loads(tags.stdout)) == 10
    selftest = _no_torch("selftest", "--model", model)
    assert selftest.returncode == 0 and "onnx on cpu" in selftest.stdout, selftest.stdout
    for args in (["models", "export", trained_model, tmp_path / "out"],
                 ["search", "a dog", "--device", "cuda"]):
        res = _no_torch(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr
    res = _no_torch("models", "export", trained_model, tmp_path / "out")
    assert "needs torch" in res.stderr and "pip install 'clipdesk[torch]'" in res.stderr


def test_an_open_clip_model_not_yet_exported_needs_torch_and_says_so(tmp_path, shapes_folder,
                                                                      monkeypatch):
    folder = _save(NARROW_CFG, tmp_path / "fresh")
    monkeypatch.setenv("CLIPDESK_ONNX_CACHE", str(tmp_path / "empty-cache"))
    res = _no_torch("index", shapes_folder, "--model", f"local-dir:{folder}")
    assert res.returncode == 2 and "needs torch" in res.stderr and "Traceback" not in res.stderr
    state = _library_state(library_dir())
    assert not state or state[:2] == ([], [])  # no photo, no model recorded


def test_model_export_command_writes_a_folder_that_loads(cli, vit_model, tmp_path):
    out = tmp_path / "exported"
    res = cli("models", "export", vit_model, out)
    assert res.code == 0 and "agreement with torch" in res.out, res.err
    encoder = models.load(models.ModelSpec.parse(f"local-dir:{out}"), device="cpu")
    assert encoder.identity == vit_model  # the same model as its source
    ref = models.load(models.ModelSpec.parse(vit_model), device="cpu", runtime="torch")
    assert _cos(encoder.encode_texts(TEXTS), ref.encode_texts(TEXTS)).min() >= 0.9999
    assert cli("models", "export", vit_model, out).code == 2  # not over a folder with files
    with pytest.raises(ClipDeskError):
        models.load(models.ModelSpec.parse(f"local-dir:{tmp_path / 'nothing'}"), device="cpu")
