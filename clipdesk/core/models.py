"""CLIP models: one spec string names a model; weights come from the Hugging Face cache.

A spec is one of:

* ``ARCH:PRETRAINED`` - an open_clip architecture and pretrained tag,
  e.g. ``ViT-B-32:laion2b_s34b_b79k`` (the default);
* ``hf-hub:ORG/REPO`` - a Hub repository in open_clip's layout;
* ``local-dir:PATH`` - a folder holding ``open_clip_config.json`` and
  ``open_clip_model.safetensors`` (the same layout, for offline use).

Weights are fetched once into the standard Hugging Face cache (with a progress
bar) and load offline afterwards. Checkpoints load only as safetensors or with
``torch.load(weights_only=True)``: a pickle that needs code is refused.

torch and open_clip are imported inside the functions that need them, so that
``clipdesk status`` and the window's first paint never pay for them.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clipdesk.core.errors import ClipDeskError, ModelUnavailable, UnsafeCheckpoint

if TYPE_CHECKING:
    import torch

DEFAULT_SPEC = "ViT-B-32:laion2b_s34b_b79k"
CONFIG_NAME = "open_clip_config.json"
WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

# Good general-purpose choices, smallest first: (spec, what it is).
KNOWN_SPECS: list[tuple[str, str]] = [
    ("ViT-B-32:laion2b_s34b_b79k", "default; fast on a CPU, 600 MB"),
    ("ViT-B-32:openai", "OpenAI's original CLIP, 600 MB"),
    ("ViT-B-32:datacomp_xl_s13b_b90k", "better accuracy at the same speed, 600 MB"),
    ("ViT-B-16:laion2b_s34b_b88k", "finer detail, about 4x slower, 600 MB"),
    ("ViT-B-16:dfn2b", "strong accuracy for its size, 600 MB"),
    ("ViT-L-14:laion2b_s32b_b82k", "large; best results, needs a GPU to index quickly, 1.7 GB"),
    ("ViT-L-14:datacomp_xl_s13b_b90k", "large; best results, 1.7 GB"),
]

OFFLINE_HELP = (
    "Connect to the internet once so ClipDesk can download it into the Hugging Face cache, "
    "or point --model at a local model folder: --model local-dir:PATH "
    "(a folder with open_clip_config.json and open_clip_model.safetensors)."
)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``text`` is the canonical string stored in the library."""

    kind: str  # "pretrained" | "hf-hub" | "local-dir"
    text: str
    arch: str = ""
    tag: str = ""
    repo: str = ""
    path: Path | None = None

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        spec = (spec or "").strip()
        if spec.startswith("local-dir:"):
            raw = spec[len("local-dir:") :]
            if not raw:
                raise ClipDeskError("--model local-dir: needs a folder, e.g. local-dir:/models/clip")
            path = Path(raw).expanduser().resolve()
            return cls("local-dir", f"local-dir:{path}", path=path)
        if spec.startswith("hf-hub:"):
            repo = spec[len("hf-hub:") :].strip("/")
            if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
                raise ClipDeskError(f"bad model spec {spec!r}: expected hf-hub:ORG/REPO")
            return cls("hf-hub", f"hf-hub:{repo}", repo=repo)
        arch, sep, tag = spec.partition(":")
        if not sep or not arch or not tag:
            raise ClipDeskError(
                f"bad model spec {spec!r}: expected ARCH:PRETRAINED (e.g. {DEFAULT_SPEC}), "
                "hf-hub:ORG/REPO or local-dir:PATH"
            )
        return cls("pretrained", f"{arch}:{tag}", arch=arch, tag=tag)

    @property
    def slug(self) -> str:
        """A file-name-safe name for per-model files in the library."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.text).strip("_")
        return safe[-120:]


def choose_spec(explicit: str | None, library_spec: str | None = None) -> ModelSpec:
    """``--model`` wins, then ``CLIPDESK_MODEL``, then the library's model, then a model the
    installer bundled (offline edition), then the default."""
    from clipdesk.core.paths import bundled_model_dir

    chosen = explicit or os.environ.get("CLIPDESK_MODEL") or library_spec
    if not chosen:
        bundled = bundled_model_dir()
        chosen = f"local-dir:{bundled}" if bundled is not None else DEFAULT_SPEC
    return ModelSpec.parse(chosen)


# --------------------------------------------------------------------------- files


@dataclass
class ModelFiles:
    """Everything needed to build a model without touching the network."""

    spec: ModelSpec
    weights: Path
    model_name: str  # what open_clip.create_model gets: an arch or local-dir:FOLDER
    create_kwargs: dict[str, Any] = field(default_factory=dict)


def _pretrained_cfg(spec: ModelSpec) -> dict:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(spec.arch, spec.tag)
    if not cfg:
        if spec.arch not in open_clip.list_models():
            raise ClipDeskError(
                f"unknown model architecture {spec.arch!r}; `clipdesk models` lists good choices"
            )
        known = open_clip.list_pretrained_tags_by_model(spec.arch)
        tags = ", ".join(known[:6]) + (", ..." if len(known) > 6 else "") if known else "none"
        raise ClipDeskError(f"unknown pretrained tag {spec.tag!r} for {spec.arch} (known: {tags})")
    return cfg


def _hub_location(spec: ModelSpec) -> tuple[str, list[str]]:
    """The Hub repository and candidate weight file names (safest first) for a spec."""
    if spec.kind == "hf-hub":
        return spec.repo, list(WEIGHT_NAMES)
    cfg = _pretrained_cfg(spec)
    hub = cfg.get("hf_hub", "")
    if not hub:
        raise ClipDeskError(f"{spec.text} is only published outside the Hugging Face Hub; pick another")
    repo, filename = os.path.split(hub.rstrip("/")) if hub.rstrip("/").count("/") > 1 else (hub.rstrip("/"), "")
    names = list(WEIGHT_NAMES)
    if filename and filename not in names:
        names.append(filename)
    return repo, names


def _find_weights(folder: Path) -> Path | None:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    return found[0] if found else None


def hub_reachable(timeout: float = 5.0) -> bool:
    """A quick check that the Hub answers, so that offline fails at once, not after retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return True  # the proxy decides; let the download try
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_file(repo: str, names: list[str], download: bool, tqdm_class=None) -> Path:
    """A cached file from ``repo`` (first of ``names`` that exists), downloading if allowed."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    for name in names:
        try:
            return Path(hf_hub_download(repo, name, local_files_only=True))
        except (LocalEntryNotFoundError, EntryNotFoundError, FileNotFoundError):
            continue
    if not download:
        raise ModelUnavailable(f"model files from {repo} are not downloaded yet")
    if not hub_reachable():
        raise ModelUnavailable(f"the Hugging Face Hub cannot be reached to download {repo}")
    last: Exception | None = None
    for name in names:
        try:
            return Path(hf_hub_download(repo, name, tqdm_class=tqdm_class))
        except LocalEntryNotFoundError as exc:  # a subclass of EntryNotFoundError: offline
            raise ModelUnavailable(f"{repo} could not be downloaded: {exc}") from exc
        except (EntryNotFoundError, GatedRepoError) as exc:
            last = exc
            continue
        except RepositoryNotFoundError as exc:
            raise ClipDeskError(f"no model repository {repo!r} on the Hugging Face Hub") from exc
        except Exception as exc:  # network down, DNS, proxy, TLS: all mean "offline" to the user
            raise ModelUnavailable(f"{repo} could not be downloaded: {exc}") from exc
    raise ClipDeskError(f"{repo} has no open_clip weights ({', '.join(names)}): {last}")


def locate(spec: ModelSpec, download: bool = True, tqdm_class=None) -> ModelFiles:
    """Find (and if allowed, fetch) a model's files. Raises ModelUnavailable when offline."""
    if spec.kind == "local-dir":
        folder = spec.path
        assert folder is not None
        if not folder.is_dir():
            raise ClipDeskError(f"model folder not found: {folder}")
        if not (folder / CONFIG_NAME).is_file():
            raise ClipDeskError(f"model folder {folder} has no {CONFIG_NAME}")
        weights = _find_weights(folder)
        if weights is None:
            raise ClipDeskError(f"model folder {folder} has no weights (open_clip_model.safetensors)")
        return ModelFiles(spec, weights, f"local-dir:{folder}")

    repo, names = _hub_location(spec)
    try:
        if spec.kind == "hf-hub":
            config = _hub_file(repo, [CONFIG_NAME], download, tqdm_class)
            weights = _hub_file(repo, names, download, tqdm_class)
            # The config and the weights sit side by side in the cache's snapshot folder.
            return ModelFiles(spec, weights, f"local-dir:{config.parent}")
        weights = _hub_file(repo, names, download, tqdm_class)
    except ModelUnavailable as exc:
        raise ModelUnavailable(
            f"model {spec.text} is not on this computer and could not be downloaded. {OFFLINE_HELP}"
        ) from exc
    cfg = _pretrained_cfg(spec)
    preprocess = {k: cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in cfg}
    kwargs = {"force_quick_gelu": bool(cfg.get("quick_gelu")), "force_preprocess_cfg": preprocess}
    return ModelFiles(spec, weights, spec.arch, kwargs)


def is_cached(spec: ModelSpec) -> bool:
    try:
        locate(spec, download=False)
        return True
    except ClipDeskError:
        return False


# --------------------------------------------------------------------------- loading

_import_lock = threading.Lock()

# When each start-up step first finished, for ``benchmarks/startup.py``: (Unix time, CPU
# seconds the process had used by then, all threads).
STARTUP_MARKS: dict[str, tuple[float, float]] = {}


def _mark(name: str) -> None:
    import time

    STARTUP_MARKS.setdefault(name, (time.time(), time.process_time()))


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


def prefetch_torch_libraries() -> None:
    """Ask the kernel to read torch's shared libraries ahead (a cold start spends seconds
    reading them from disk); returns at once and holds no lock while the disk works."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations or not hasattr(os, "posix_fadvise"):
        return
    for folder in spec.submodule_search_locations:
        for lib in sorted(Path(folder, "lib").glob("*.so*")):
            try:
                fd = os.open(lib, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)


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


class Encoder:
    """A loaded CLIP model: embeds preprocessed image batches and texts into unit vectors.

    ``image_calls`` counts images run through the image tower (tests use it to prove
    that renames and moves do not run CLIP).
    """

    int8 = False  # the image tower runs int8 dynamic quantization (see quantize_image_tower)

    def __init__(self, spec: ModelSpec, model, preprocess, tokenizer, device: str):
        import torch

        self.spec = spec
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.image_calls = 0
        self.text_calls = 0
        self._lock = threading.Lock()
        self._encode_text = truncated_text_encoder(model) or model.encode_text
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        with torch.inference_mode():
            probe = self._encode_text(tokenizer(["probe"]).to(device))
        self.dim = int(probe.shape[-1])

    def encode_images(self, batch: torch.Tensor) -> np.ndarray:
        """(N, 3, H, W) preprocessed tensor -> (N, dim) float32 unit vectors."""
        import torch

        with self._lock, torch.inference_mode():
            out = self.model.encode_image(batch.to(self.device), normalize=True)
            self.image_calls += int(batch.shape[0])
        return out.float().cpu().numpy()

    def encode_pil(self, images: list) -> np.ndarray:
        import torch

        return self.encode_images(torch.stack([self.preprocess(im) for im in images]))

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

    def encode(text: torch.Tensor) -> torch.Tensor:
        n = int(end_positions(text).max()) + 1
        text_n = text[:, :n]
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

    return encode


def load(spec: ModelSpec, device: str = "auto", download: bool = True, tqdm_class=None,
         int8: bool = False) -> Encoder:
    """Locate (downloading once if needed) and build a model, ready for inference.
    ``int8``: quantize the image tower for the CPU (see ``quantize_image_tower``)."""
    open_clip = import_open_clip()
    from open_clip.transform import PreprocessCfg, image_transform_v2

    files = locate(spec, download=download, tqdm_class=tqdm_class)
    dev = pick_device(device)
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
        raise ClipDeskError(f"cannot build model {spec.text}: {exc}") from exc
    _mark("model built")
    _load_weights(model, files.weights)
    _mark("weights loaded")
    model.eval().to(dev)
    preprocess = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    tokenizer = open_clip.get_tokenizer(files.model_name)
    encoder = Encoder(spec, model, preprocess, tokenizer, dev)
    _mark("first text encoded")
    if int8:
        encoder.int8 = quantize_image_tower(model, dev) > 0
    return encoder


def save_local_dir(model, model_cfg: dict, folder: Path, preprocess_cfg: dict | None = None) -> Path:
    """Write a model in the ``local-dir`` layout (config JSON + safetensors)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg or {}}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2), encoding="utf-8")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHT_NAMES[0]))
    return folder


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


def fast_preprocess(cfg: dict):
    """The model's eval transform (resize, centre crop, normalise) in PIL and two torch passes,
    for the indexer's worker threads: the same pixels as open_clip's torchvision transform, at
    a third of its cost. ``cfg`` is ``model.visual.preprocess_cfg``. Returns None for the
    settings it does not reproduce (then use ``Encoder.preprocess``)."""
    import torch
    from PIL import Image

    size = cfg.get("size", 224)
    if isinstance(size, (tuple, list)):
        if len(size) != 2 or size[0] != size[1]:
            return None
        size = size[0]
    size = int(size)
    mode = cfg.get("resize_mode") or "shortest"
    interpolation = cfg.get("interpolation") or "bicubic"
    if mode not in ("shortest", "squash") or interpolation not in ("bicubic", "bilinear", "random"):
        return None
    resample = Image.Resampling.BILINEAR if interpolation == "bilinear" else Image.Resampling.BICUBIC
    mean = np.array(cfg.get("mean") or (0.48145466, 0.4578275, 0.40821073), np.float32)
    std = np.array(cfg.get("std") or (0.26862954, 0.26130258, 0.27577711), np.float32)
    scale = (1.0 / (255.0 * std)).reshape(3, 1, 1)
    shift = (-mean / std).reshape(3, 1, 1)

    def preprocess(image: Image.Image) -> torch.Tensor:
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        if mode == "squash":
            target = (size, size)
        else:  # torchvision's Resize(int): the short side to ``size``, the long one truncated
            long = int(size * max(w, h) / min(w, h))
            target = (size, long) if w <= h else (long, size)
        if (w, h) != target:
            image = image.resize(target, resample)
        if image.size != (size, size):  # torchvision's CenterCrop offsets
            left = int(round((image.width - size) / 2.0))
            top = int(round((image.height - size) / 2.0))
            image = image.crop((left, top, left + size, top + size))
        # uint8 HWC to normalised float CHW in one pass and one in place (numpy, single
        # threaded: no torch thread team per worker), handed to torch without a copy
        out = np.empty((3, size, size), np.float32)
        np.multiply(np.asarray(image).transpose(2, 0, 1), scale, out=out)
        out += shift
        return torch.from_numpy(out)

    return preprocess
