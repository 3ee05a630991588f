"""open_clip models to ONNX, once; and the int8 image tower.

Any open_clip model (``ARCH:PRETRAINED``, ``hf-hub:`` in open_clip's layout, a ``local-dir:``
with ``open_clip_config.json``) is exported with torch into the ONNX layout that
``onnx_encoder`` reads (Immich's), with two differences that make it faster: the batch axis is
dynamic (indexing runs in batches) and so is the text length (a query runs only up to its end
token, as the torch path does). Exports are cached beside the Hugging Face cache and made
on first use when torch is installed; ``clipdesk models export SPEC DIR`` writes one anywhere.

Each export is checked against torch on a few images and texts. When they agree (cosine at
least ``SAME_MODEL_COSINE``), the export is the same model as its source in the catalog,
and switching runtime does not re-index the library.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from clipdesk import __version__
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.onnx_encoder import EXPORT_INFO, OnnxModel, read_folder

log = logging.getLogger(__name__)

SAME_MODEL_COSINE = 0.9999
OPSET = 17
EXPORT_FORMAT = "v2"  # in the cache folder's name: a change of layout exports again
PROBE_TEXTS = ["a photo of a dog", "kids on a beach at sunset", "", "Zürich's café, 2024!"]


def cache_root() -> Path:
    """Where exports and int8 copies live: beside the Hugging Face cache (``HF_HOME``)."""
    if os.environ.get("CLIPDESK_ONNX_CACHE"):
        return Path(os.environ["CLIPDESK_ONNX_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "clipdesk-onnx"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "huggingface" / "clipdesk-onnx"


def cached_export_dir(spec, weights: Path | None = None) -> Path:
    """The cache folder of a spec's export; a local model's includes its weights' stat, so
    a changed file is exported again."""
    name = f"{spec.slug}-{EXPORT_FORMAT}"
    if weights is not None:
        st = weights.stat()
        stamp = f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
        name = f"{name[-80:]}-{hashlib.sha256(stamp).hexdigest()[:12]}"
    return cache_root() / "onnx" / name


def torch_available() -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "open_clip"))
    except (ImportError, ValueError):
        return False


def require_torch(what: str) -> None:
    if not torch_available():
        raise ClipDeskError(
            f"{what} needs torch and open_clip, which are not installed here "
            "(pip install 'clipdesk[torch]'). Or use a model already in ONNX form: "
            "the default model, hf-hub:ORG/REPO in Immich's layout, or local-dir:PATH "
            "with config.json, visual/ and textual/.")


def _model_cfg(files) -> dict:
    from clipdesk.core.torch_encoder import import_open_clip

    if files.model_name.startswith("local-dir:"):
        config = json.loads(Path(files.model_name[len("local-dir:"):], "open_clip_config.json")
                            .read_text(encoding="utf-8"))
        return dict(config.get("model_cfg") or {})
    cfg = import_open_clip().get_model_config(files.model_name)
    if not cfg:
        raise ClipDeskError(f"no open_clip config for {files.model_name}")
    cfg = dict(cfg)
    if files.create_kwargs.get("force_quick_gelu"):
        cfg["quick_gelu"] = True
    return cfg


def _write_tokenizer(model, files, folder: Path, context_length: int) -> None:
    from clipdesk.core.torch_encoder import import_open_clip

    tokenizer = import_open_clip().get_tokenizer(files.model_name)
    inner = getattr(tokenizer, "tokenizer", None)
    if inner is not None and hasattr(inner, "save_pretrained"):  # a Hugging Face tokenizer
        inner.save_pretrained(str(folder))
        if not (folder / "tokenizer.json").is_file():
            raise ClipDeskError(f"{files.spec.text}: its tokenizer has no tokenizer.json form")
        return
    from clipdesk.core.tokenizer import write_clip_tokenizer

    write_clip_tokenizer(folder, context_length)


def export(files, folder: Path, identity: str) -> OnnxModel:
    """Export located open_clip files into ``folder`` (written whole or not at all)."""
    require_torch(f"exporting {files.spec.text} to ONNX")
    import torch

    from clipdesk.core import preprocess as preprocessing
    from clipdesk.core import torch_encoder
    from clipdesk.core.models import _mark

    folder = Path(folder)
    model = torch_encoder.build_model(files)
    for p in model.parameters():
        p.requires_grad_(False)
    model_cfg = _model_cfg(files)
    context = int(getattr(model, "context_length", 0) or
                  model_cfg.get("text_cfg", {}).get("context_length", 77))
    preprocess_cfg = dict(model.visual.preprocess_cfg)
    size = preprocessing.image_size(preprocess_cfg)
    truncated = torch_encoder.truncated_text_encoder(model)

    tmp = folder.with_name(f".{folder.name}.part-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "visual").mkdir(parents=True)
    (tmp / "textual").mkdir()
    try:
        (tmp / "config.json").write_text(json.dumps(model_cfg, indent=2), encoding="utf-8")
        (tmp / "visual" / "preprocess_cfg.json").write_text(
            json.dumps(preprocess_cfg, indent=2), encoding="utf-8")
        _write_tokenizer(model, files, tmp / "textual", context)

        class Visual(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, image):
                return self.model.encode_image(image, normalize=True)

        class Textual(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, text):
                text = text.long()
                x = truncated.prefix(text) if truncated else self.model.encode_text(text)
                return torch.nn.functional.normalize(x, dim=-1)

        torch.backends.mha.set_fastpath_enabled(False)  # as Immich's exporter: plain ops
        text_blocks = (model.transformer if hasattr(model, "transformer")
                       else model.text.transformer).resblocks if truncated else []
        with warnings.catch_warnings(), torch.no_grad(), _traceable_attention(text_blocks):
            warnings.simplefilter("ignore")
            torch.onnx.export(Visual().eval(), (torch.randn(2, 3, size, size),),
                              str(tmp / "visual" / "model.onnx"), input_names=["image"],
                              output_names=["embedding"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}})
            length = {1: "length"} if truncated else {}
            torch.onnx.export(Textual().eval(), (torch.ones(2, context, dtype=torch.int32),),
                              str(tmp / "textual" / "model.onnx"), input_names=["text"],
                              output_names=["embedding"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"text": {0: "batch", **length},
                                            "embedding": {0: "batch"}})
        for tower in ("visual", "textual"):
            _weights_beside(tmp / tower / "model.onnx")
        _mark("exported")
        agreement = _agreement(files, model, tmp, bool(truncated))
        same = min(agreement.values()) >= SAME_MODEL_COSINE
        info = {"source": files.spec.text, "identity": identity if same else "",
                "text_truncatable": bool(truncated), "min_cosine_to_torch": agreement,
                "opset": OPSET, "clipdesk": __version__, "torch": torch.__version__}
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not same:
        log.warning("ONNX export of %s differs from torch (%s): a model of its own in the "
                    "catalog", files.spec.text, agreement)
    return read_folder(folder, identity if same else f"{files.spec.text} (onnx)")


def _weights_beside(path: Path) -> None:
    """Keep the graph's weights in ``model.onnx.data`` beside it: ONNX Runtime then maps them
    instead of copying them out of the protobuf, so a query's text tower opens in 0.64 s and
    263 MB instead of 1.07 s and 432 MB (ViT-B-32, `clipdesk search`, benchmarks/startup.py)."""
    import onnx

    proto = onnx.load(str(path))
    onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=1024)


@contextlib.contextmanager
def _traceable_attention(blocks):
    """While exporting, each block's self-attention is the same computation written so that
    a trace keeps the text length symbolic (``nn.MultiheadAttention`` bakes in the traced
    length)."""
    import math

    import torch
    from open_clip.transformer import ResidualAttentionBlock

    patched = [b for b in blocks if isinstance(b, ResidualAttentionBlock)]
    for block in patched:
        attn = block.attn
        heads, dim = attn.num_heads, attn.embed_dim // attn.num_heads
        scale = 1.0 / math.sqrt(dim)

        def attention(q_x, k_x=None, v_x=None, attn_mask=None, attn=attn, heads=heads,
                      dim=dim, scale=scale):
            x = q_x if attn.batch_first else q_x.transpose(0, 1)  # (batch, length, width)
            q, k, v = torch.nn.functional.linear(x, attn.in_proj_weight,
                                                 attn.in_proj_bias).chunk(3, dim=-1)
            q, k, v = (t.reshape(t.shape[0], -1, heads, dim).transpose(1, 2) for t in (q, k, v))
            weights = (q * scale) @ k.transpose(-1, -2)
            if attn_mask is not None:
                weights = weights + attn_mask.to(weights.dtype)
            out = (weights.softmax(dim=-1) @ v).transpose(1, 2)
            out = attn.out_proj(out.reshape(out.shape[0], -1, heads * dim))
            return out if attn.batch_first else out.transpose(0, 1)

        block.attention = attention
    try:
        yield
    finally:
        for block in patched:
            del block.attention  # the class's own again


def _agreement(files, model, folder: Path, truncatable: bool) -> dict[str, float]:
    """Lowest cosine between torch and the exported graphs, on probe images and texts."""
    import open_clip
    import torch
    from PIL import Image

    from clipdesk.core import preprocess as preprocessing
    from clipdesk.core.onnx_encoder import OnnxEncoder

    onnx = OnnxEncoder(files.spec, OnnxModel(folder, {}, "", truncatable), device="cpu")
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (96 + 16 * i, 128, 3), dtype=np.uint8))
              for i in range(3)]
    gradient = np.linspace(0, 255, 160 * 120 * 3).reshape(120, 160, 3).astype(np.uint8)
    images.append(Image.fromarray(gradient))
    pre = preprocessing.make(dict(model.visual.preprocess_cfg))
    batch = np.stack([pre(im) for im in images])
    tokenizer = open_clip.get_tokenizer(files.model_name)
    with torch.no_grad():
        want_img = model.encode_image(torch.from_numpy(batch), normalize=True).numpy()
        want_txt = model.encode_text(tokenizer(PROBE_TEXTS), normalize=True).numpy()
    got_img = onnx.encode_images(batch)
    got_txt = onnx.encode_texts(PROBE_TEXTS)
    return {"image": float((want_img * got_img).sum(1).min()),
            "text": float((want_txt * got_txt).sum(1).min())}


def quantized_visual(model: OnnxModel) -> Path:
    """The image tower with int8 dynamic quantization of its matrix products (made once,
    cached). The text tower stays fp32: the index is compared against fp32 text vectors."""
    src = model.visual
    st = src.stat()
    key = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    dst = cache_root() / "int8" / key[:16] / "model.onnx"
    if dst.is_file():
        return dst
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ClipDeskError("int8 needs the onnx package (pip install onnx), which is not "
                            f"installed here: {exc}") from exc
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".model.part-{os.getpid()}.onnx")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # MatMul and Gemm only: int8 convolutions (the patch embedding) are slower on CPUs
            quantize_dynamic(src, tmp, weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul", "Gemm"])
        os.replace(tmp, dst)
    except ClipDeskError:
        raise
    except Exception as exc:
        raise ClipDeskError(f"could not quantize {src} to int8: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def export_isolated(files, folder: Path, identity: str) -> OnnxModel:
    """``export`` in a child process that imports torch and nothing else of ClipDesk's
    native libraries: torch's tracer hangs once usearch (which the library and the indexer
    import) is loaded in the same process, and the child's memory (the torch model, torch
    itself) is all given back when it ends."""
    import subprocess
    import sys

    require_torch(f"exporting {files.spec.text} to ONNX")
    located = {"spec": files.spec.text, "weights": str(files.weights),
               "model_name": files.model_name, "create_kwargs": files.create_kwargs}
    cmd = [sys.executable, "-m", "clipdesk.core.export", json.dumps(located), str(folder),
           identity]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(_ERROR_MARK)]
        if lines:  # the child's error, of the same kind (UnsafeCheckpoint, ModelUnavailable)
            from clipdesk.core import errors

            name, _, message = lines[-1][len(_ERROR_MARK):].partition(" ")
            kind = getattr(errors, name, ClipDeskError)
            raise (kind if isinstance(kind, type) and issubclass(kind, ClipDeskError)
                   else ClipDeskError)(message)
        log.error("ONNX export of %s failed:\n%s", files.spec.text, proc.stderr[-4000:])
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise ClipDeskError(f"exporting {files.spec.text} to ONNX failed: {tail[0]}")
    return read_folder(folder, identity)


_ERROR_MARK = "CLIPDESK-EXPORT-ERROR "


def _main(argv: list[str]) -> int:
    """``python -m clipdesk.core.export FILES FOLDER IDENTITY`` (what export_isolated runs):
    FILES is the located model (``models.ModelFiles``) as JSON, as the parent found it."""
    import sys

    from clipdesk.core.models import ModelFiles, ModelSpec

    located, folder, identity = argv
    try:
        info = json.loads(located)
        files = ModelFiles(ModelSpec.parse(info["spec"]), Path(info["weights"]),
                           info["model_name"], info["create_kwargs"])
        export(files, Path(folder), identity)
    except ClipDeskError as exc:
        print(f"{_ERROR_MARK}{type(exc).__name__} {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
