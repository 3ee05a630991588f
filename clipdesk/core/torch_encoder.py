"""The torch runtime: open_clip models on torch, for GPUs, exporting and training.

ONNX Runtime (``onnx_encoder``) is ClipDesk's engine on the CPU; this module is what
``--device cuda`` and ``--device mps`` run, what ``export`` builds models with, and what
``CLIPDESK_RUNTIME=torch`` selects on the CPU (the tests compare the two). torch and
open_clip are imported inside the functions that need them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipdesk.core import preprocess as preprocessing
from clipdesk.core.errors import ClipDeskError, UnsafeCheckpoint
from clipdesk.core.models import ModelFiles, ModelSpec, _mark

if TYPE_CHECKING:
    import torch

_import_lock = threading.Lock()

def import_open_clip():
    """Import torch and open_clip, without torch._dynamo, and return open_clip.

    open_clip imports torchvision, whose ``ops.roi_align`` imports ``torch._dynamo.utils``
    for one function it calls only inside ``roi_align``; that import pulls in dynamo and
    inductor, about two thirds of the cost of importing open_clip. While open_clip loads,
    a stand-in module offers that function, importing the real one on first call; it is
    gone from ``sys.modules`` afterwards, so a later ``import torch._dynamo`` is the real
    one. The app calls this in a background thread once its window is on screen.
    """
    import sys

    with _import_lock:
        if "open_clip" in sys.modules:
            return sys.modules["open_clip"]
        import torch  # noqa: F401  (first, on its own: the stand-in below is torch's child)

        _mark("torch imported")

        stub = None
        if "torch._dynamo" not in sys.modules and "torch._dynamo.utils" not in sys.modules:
            import types

            def is_compile_supported(device_type):
                from torch._dynamo.utils import is_compile_supported as real

                return real(device_type)

            stub = types.ModuleType("torch._dynamo.utils")
            stub.is_compile_supported = is_compile_supported
            sys.modules[stub.__name__] = stub
        try:
            import open_clip
        finally:
            if stub is not None and sys.modules.get(stub.__name__) is stub:
                del sys.modules[stub.__name__]
        _mark("open_clip imported")
        return open_clip


class _SkipInit:
    """While creating a model whose every weight the checkpoint then sets (strict load),
    skip torch's random initialisation: for ViT-B-32 it costs more than loading the file."""

    NAMES = ("normal_", "trunc_normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_",
             "xavier_uniform_", "xavier_normal_", "zeros_", "ones_", "constant_", "orthogonal_")

    def __enter__(self):
        import torch

        self.saved = {n: getattr(torch.nn.init, n) for n in self.NAMES if hasattr(torch.nn.init, n)}
        for name in self.saved:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        return self

    def __exit__(self, *exc):
        import torch

        for name, fn in self.saved.items():
            setattr(torch.nn.init, name, fn)
        return False


def pick_device(requested: str = "auto") -> str:
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ClipDeskError("--device cuda: no CUDA GPU is available here (try --device cpu)")
    if requested == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ClipDeskError("--device mps: Apple's Metal backend is not available here")
    if requested not in ("cpu", "cuda", "mps") and not requested.startswith("cuda:"):
        raise ClipDeskError(f"unknown device {requested!r}: use auto, cpu, cuda or mps")
    return requested


def _load_weights(model, weights: Path) -> None:
    import pickle

    import open_clip

    try:
        if weights.suffix != ".safetensors":
            import torch

            # Vet a pickle with torch's safe loader first: when that raises TypeError (which a
            # crafted pickle can make it do), open_clip retries a plain torch.load, and that runs
            # pickled code on torch < 2.6 or with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1.
            torch.load(weights, map_location="cpu", weights_only=True)
        open_clip.load_checkpoint(model, str(weights), strict=True, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpoint(
            f"refused to load {weights}: the checkpoint contains pickled code, which could run "
            "anything on this computer. Use a safetensors file (open_clip_model.safetensors)."
        ) from exc
    except Exception as exc:
        raise ClipDeskError(f"cannot load model weights {weights}: {exc}") from exc


# The image tower's precision on each device: autocast to half on GPUs, where it is 4-7x the
# fp32 rate (issue 15: ViT-B-32 on an H200, 4,631 img/s fp32, 21,508 bf16); fp32 on the CPU,
# where torch's bf16 autocast is emulated on most processors. Agreement with fp32:
# benchmarks/gpu_index.py (cosine and top-10 overlap on the tests' trained tiny CLIP).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HALF_DTYPES: dict[str, object] = {}  # filled on first use: "bf16"/"fp16" -> torch dtype


def pick_precision(device: str, requested: str = "auto") -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``device``: ``auto`` is bf16 on a CUDA GPU that has it
    (Ampere and later), else fp16 there and on Apple's MPS, and fp32 on the CPU.
    ``CLIPDESK_PRECISION`` replaces ``auto`` (``fp32`` gives the full-precision baseline)."""
    import os

    import torch

    if not HALF_DTYPES:
        HALF_DTYPES.update(bf16=torch.bfloat16, fp16=torch.float16)
    if requested in (None, "auto"):
        requested = os.environ.get("CLIPDESK_PRECISION", "auto")  # benchmarks' fp32 baseline
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ClipDeskError(f"unknown precision {requested!r}: use {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    kind = str(device).split(":")[0]
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp16" if kind == "mps" else "fp32"


def to_device(batch: np.ndarray, device: str):
    """A float32 numpy batch as a tensor on ``device``; through pinned memory to a CUDA GPU,
    so the copy does not go through a pageable bounce buffer."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
    if str(device).startswith("cuda"):
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class TorchEncoder:
    """A CLIP model loaded in torch: embeds preprocessed image batches and texts into unit
    vectors. The same interface as ``onnx_encoder.OnnxEncoder`` (see ``models.Encoder``).

    ``image_calls`` counts images run through the image tower (tests use it to prove
    that renames and moves do not run CLIP).
    """

    runtime = "torch"
    int8 = False  # the image tower runs int8 dynamic quantization (see quantize_image_tower)

    def __init__(self, spec: ModelSpec, model, tokenizer, device: str,
                 precision: str = "auto"):
        import torch

        self.spec = spec
        self.precision = pick_precision(device, precision)
        self.identity = spec.text
        self.model = model
        self.preprocess_cfg = dict(model.visual.preprocess_cfg)
        self.preprocess = preprocessing.make(self.preprocess_cfg)
        self.tokenizer = tokenizer
        self.device = device
        self.image_calls = 0
        self.text_calls = 0
        self._lock = threading.Lock()
        self._encode_text = truncated_text_encoder(model) or model.encode_text
        self.image_size = preprocessing.image_size(self.preprocess_cfg)
        with torch.inference_mode():
            probe = self._encode_text(tokenizer(["probe"]).to(device))
        self.dim = int(probe.shape[-1])

    def encode_images(self, batch) -> np.ndarray:
        """(N, 3, H, W) preprocessed float32 array, or a tensor already on the device (from
        ``gpudecode``) -> (N, dim) float32 unit vectors. The image tower runs under autocast
        in ``self.precision`` (bf16 or fp16 on a GPU); the vectors are normalised in fp32."""
        import torch

        tensor = batch if isinstance(batch, torch.Tensor) else to_device(batch, self.device)
        half = HALF_DTYPES.get(self.precision)
        with self._lock, torch.inference_mode():
            with torch.autocast(device_type=self.device.split(":")[0], dtype=half,
                                enabled=half is not None):
                out = self.model.encode_image(tensor.to(self.device, torch.float32))
            out = torch.nn.functional.normalize(out.float(), dim=-1)
            self.image_calls += int(tensor.shape[0])
        return out.cpu().numpy()

    def encode_pil(self, images: list) -> np.ndarray:
        return self.encode_images(np.stack([self.preprocess(im) for im in images]))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Unit text embeddings; a causal text tower runs only up to each text's end token."""
        import torch

        with self._lock, torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            out = self._encode_text(tokens)
            self.text_calls += len(texts)
        return torch.nn.functional.normalize(out, dim=-1).float().cpu().numpy()


def truncated_text_encoder(model):
    """``tokens -> text features`` equal to ``model.encode_text(tokens)``, computing only the
    positions up to the longest text's end token instead of the full padded context (77).

    The text tower's attention is causal, so the features at the end token, the only ones
    pooled, never see the padding after it. Returns None for a tower where that does not
    hold or that this does not know (Hugging Face text encoders, padding masks, a class
    token, pooling by the last position); those go through ``encode_text`` unchanged.
    """
    import torch
    from open_clip.transformer import TextTransformer, text_global_pool

    tower = model.text if hasattr(model, "text") else model  # CustomTextCLIP or CLIP
    if hasattr(model, "text") and not isinstance(tower, TextTransformer):
        return None
    pool = getattr(tower, "pool_type", getattr(tower, "text_pool_type", None))
    eos_id = getattr(tower, "eos_id", getattr(tower, "text_eos_id", None))
    mask = getattr(tower, "attn_mask", None)
    if (pool not in ("argmax", "eos") or (pool == "eos" and eos_id is None)
            or not isinstance(mask, torch.Tensor) or getattr(tower, "cls_emb", None) is not None
            or getattr(tower, "use_pad_mask", False)
            or not all(hasattr(tower, a) for a in ("token_embedding", "positional_embedding",
                                                  "transformer", "ln_final"))):
        return None
    full = mask.shape[-1]
    causal = torch.full((full, full), float("-inf")).triu_(1)
    if not torch.equal(mask.float().cpu(), causal):
        return None

    def end_positions(text: torch.Tensor) -> torch.Tensor:
        if pool == "argmax":
            return text.argmax(dim=-1)
        return (text == eos_id).int().argmax(dim=-1)

    def encode_prefix(text_n: torch.Tensor) -> torch.Tensor:
        """Features of texts already cut after their end tokens (all positions are used)."""
        n = text_n.shape[1]
        cast = tower.transformer.get_cast_dtype()
        x = tower.token_embedding(text_n).to(cast)
        x = x + tower.positional_embedding[:n].to(cast)
        x = tower.transformer(x, attn_mask=tower.attn_mask[:n, :n])
        x = tower.ln_final(x)
        x = text_global_pool(x, text_n, pool, eos_token_id=eos_id)
        proj = tower.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
        return x

    def encode(text: torch.Tensor) -> torch.Tensor:
        return encode_prefix(text[:, : int(end_positions(text).max()) + 1])

    encode.prefix = encode_prefix  # what ``export`` traces: the length is the input's
    return encode


def build_model(files: ModelFiles):
    """The open_clip model for located files, weights loaded, in eval mode on the CPU."""
    open_clip = import_open_clip()
    try:
        with _SkipInit():  # the strict load below sets every weight
            model = open_clip.create_model(
                files.model_name,
                load_weights=False,
                pretrained_text=False,
                pretrained_image=False,
                **files.create_kwargs,
            )
    except Exception as exc:
        raise ClipDeskError(f"cannot build model {files.spec.text}: {exc}") from exc
    _mark("model built")
    _load_weights(model, files.weights)
    _mark("weights loaded")
    return model.eval()


def load(files: ModelFiles, device: str = "auto", int8: bool = False,
         precision: str = "auto") -> TorchEncoder:
    """Build located model files on ``device``, ready for inference.
    ``int8``: quantize the image tower for the CPU (see ``quantize_image_tower``);
    ``precision``: the image tower's (``pick_precision``)."""
    open_clip = import_open_clip()
    dev = pick_device(device)
    model = build_model(files).to(dev)
    tokenizer = open_clip.get_tokenizer(files.model_name)
    encoder = TorchEncoder(files.spec, model, tokenizer, dev, precision)
    _mark("first text encoded")
    if int8:
        encoder.int8 = quantize_image_tower(model, dev) > 0
    return encoder


# --------------------------------------------------------------------------- CPU speed


def quantize_image_tower(model, device: str = "cpu") -> int:
    """int8 dynamic quantization of the image tower's ``nn.Linear`` layers, in place; returns
    how many were quantized (0 on a GPU, where it does not apply).

    Weights become int8 (per tensor); activations are quantized on the fly, batch by batch.
    Only the MLP linears of each transformer block are quantized, about two thirds of a ViT's
    FLOPs: the attention's input projection is a bare parameter and its output projection a
    ``NonDynamicallyQuantizableLinear`` (both stay fp32, as do the patch embedding and the
    final projection). A ResNet tower (ModifiedResNet) has no MLP: there it is a no-op. The text tower stays fp32: queries are typed one at a
    time and the image tower's agreement with fp32 is what the index depends on.

    The embeddings it makes share the fp32 model's catalog row and vector index: they are
    approximations of the same model's embeddings (cosine to fp32 above 0.99 in
    ``benchmarks/quantization.py``), compared against the same fp32 text embeddings, so
    switching the setting neither re-indexes the library nor splits it in two. Photos indexed
    with and without it mix in one index; the benchmark's top-10 overlap is the measure of
    what that costs.
    """
    import warnings

    import torch

    if not str(device).startswith("cpu"):
        return 0
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:
        raise ClipDeskError(f"int8 is not available with torch {torch.__version__}: {exc}") from exc
    # Only layers called as modules can be swapped: a ResNet's attention pool hands its
    # Linears' weights to F.multi_head_attention_forward, which a quantized layer breaks.
    names = {name for name, m in model.visual.named_modules()
             if type(m) is torch.nn.Linear and ".mlp." in f".{name}"}
    if not names:
        return 0
    with warnings.catch_warnings():  # torch.ao.quantization warns that torchao replaces it
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        model.visual = quantize_dynamic(model.visual, names, dtype=torch.qint8)
    after = dict(model.visual.named_modules())
    return sum(type(after[name]) is not torch.nn.Linear for name in names)


