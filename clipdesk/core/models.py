"""CLIP models: one spec string names a model; this module finds its files and loads it.

A spec is one of:

* ``ARCH:PRETRAINED`` - an open_clip architecture and pretrained tag,
  e.g. ``ViT-B-32:laion2b_s34b_b79k`` (the default);
* ``hf-hub:ORG/REPO`` - a Hub repository, in Immich's ONNX layout (``config.json``,
  ``visual/``, ``textual/``) or in open_clip's (``open_clip_config.json`` + weights);
* ``local-dir:PATH`` - a folder in either layout, for machines that never go online.

Two runtimes run a model (``Encoder`` is what both offer). ONNX Runtime is the default: it
needs neither torch nor open_clip, loads the text and image towers separately, and runs an
ONNX model as it is. An ``ARCH:PRETRAINED`` model comes as ONNX from Immich's public export
of the same weights when there is one (the default model does); any other open_clip model is
exported to ONNX once, with torch, where torch is installed (``export``). torch runs
``--device cuda`` and ``--device mps`` (and ``CLIPDESK_RUNTIME=torch`` on the CPU).

Files are fetched once into the standard Hugging Face cache (with a progress bar) and load
offline afterwards. Checkpoints load only as safetensors or with
``torch.load(weights_only=True)``: a pickle that needs code is refused, and an ONNX graph
that needs a custom-op library is refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from clipdesk.core.errors import ClipDeskError, ModelUnavailable

if TYPE_CHECKING:
    from clipdesk.core.onnx_encoder import OnnxModel

log = logging.getLogger(__name__)

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
    "(an ONNX model: config.json, visual/ and textual/; or an open_clip one: "
    "open_clip_config.json and open_clip_model.safetensors)."
)

# Immich publishes ONNX exports of open_clip models on the Hub as immich-app/ARCH__TAG (some
# tags with dashes for underscores). An ``ARCH:TAG`` spec with one here is fetched as ONNX.
IMMICH_ORG = "immich-app"
IMMICH_CLIP = frozenset({
    "RN50__openai", "RN101__openai", "ViT-B-16__openai", "ViT-B-16__laion400m_e32",
    "ViT-B-16-SigLIP__webli", "ViT-B-32__laion2b-s34b-b79k", "ViT-B-32__laion2b_e16",
    "ViT-B-32__laion400m_e32", "ViT-B-32__openai", "ViT-L-14__laion2b-s32b-b82k",
    "ViT-L-14__laion400m_e32", "ViT-L-14__openai", "ViT-L-14-336__openai",
    "ViT-L-14-quickgelu__dfn2b", "ViT-H-14-quickgelu__dfn5b", "ViT-H-14__laion2b-s32b-b79k",
    "ViT-SO400M-14-SigLIP-384__webli", "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
    "nllb-clip-base-siglip__v1",
})


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
    def immich_repo(self) -> str | None:
        """Immich's ONNX export of this open_clip model on the Hub, if it publishes one."""
        if self.kind != "pretrained":
            return None
        for name in (f"{self.arch}__{self.tag}", f"{self.arch}__{self.tag.replace('_', '-')}"):
            if name in IMMICH_CLIP:
                return f"{IMMICH_ORG}/{name}"
        return None

    @property
    def identity(self) -> str:
        """The model this spec names, as the catalog knows it. Forms of one model that give
        the same embeddings share it, so switching runtime or format does not re-index:
        Immich's export of ``ARCH:TAG`` is ``ARCH:TAG``; ClipDesk's export of a model is its
        source (recorded in ``clipdesk_export.json`` after checking they agree)."""
        if self.kind == "hf-hub":
            org, _, name = self.repo.partition("/")
            arch, sep, tag = name.partition("__")
            if org == IMMICH_ORG and sep and arch and tag:
                return f"{arch}:{tag.replace('-', '_')}"
        if self.kind == "local-dir" and self.path is not None:
            info = self.path / "clipdesk_export.json"
            if info.is_file():
                try:
                    source = json.loads(info.read_text(encoding="utf-8")).get("identity")
                except (OSError, ValueError, AttributeError):
                    source = None
                if isinstance(source, str) and source:
                    return source
        return self.text

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
    from clipdesk.core.export import require_torch

    require_torch(f"{spec.text} (an open_clip model Immich does not publish as ONNX)")
    from clipdesk.core.torch_encoder import import_open_clip

    open_clip = import_open_clip()

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
            raise ClipDeskError(
                f"model folder {folder} holds no model: an ONNX model needs config.json, "
                f"visual/model.onnx and textual/model.onnx; an open_clip one {CONFIG_NAME} "
                "and open_clip_model.safetensors")
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


# --------------------------------------------------------------------------- ONNX files

ONNX_REQUIRED = ("textual/tokenizer.json", "config.json", "textual/model.onnx", "visual/model.onnx")
ONNX_OPTIONAL = ("visual/preprocess_cfg.json", "textual/tokenizer_config.json",
                 "textual/special_tokens_map.json")


def _hub_onnx(repo: str, identity: str, download: bool, tqdm_class=None) -> OnnxModel | None:
    """A Hub repository in the ONNX layout, from the cache or (if allowed) downloaded; None
    when it is not in that layout (or, without ``download``, not cached)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    from clipdesk.core.onnx_encoder import read_folder

    def cached(name: str) -> Path | None:
        try:
            return Path(hf_hub_download(repo, name, local_files_only=True))
        except (LocalEntryNotFoundError, EntryNotFoundError, FileNotFoundError):
            return None

    got = [cached(n) for n in ONNX_REQUIRED]
    if all(got):
        for name in ONNX_OPTIONAL:
            cached(name)
        return read_folder(got[0].parents[1], identity)
    if not download:
        return None
    if not hub_reachable():
        raise ModelUnavailable(f"the Hugging Face Hub cannot be reached to download {repo}")
    root = None
    for name in ONNX_REQUIRED + ONNX_OPTIONAL:
        try:
            path = Path(hf_hub_download(repo, name, tqdm_class=tqdm_class))
            root = root or path.parents[1]
        except LocalEntryNotFoundError as exc:  # a subclass of EntryNotFoundError: offline
            raise ModelUnavailable(f"{repo} could not be downloaded: {exc}") from exc
        except (EntryNotFoundError, GatedRepoError):
            if name == ONNX_REQUIRED[0]:
                return None  # not the ONNX layout: open_clip's, perhaps
            if name in ONNX_REQUIRED:
                raise ClipDeskError(f"{repo} has no {name}: not a complete ONNX model") from None
        except RepositoryNotFoundError as exc:
            raise ClipDeskError(f"no model repository {repo!r} on the Hugging Face Hub") from exc
        except Exception as exc:  # network down, DNS, proxy, TLS: all mean "offline" to the user
            raise ModelUnavailable(f"{repo} could not be downloaded: {exc}") from exc
    assert root is not None
    return read_folder(root, identity)


def _export_folder(files: ModelFiles) -> Path:
    from clipdesk.core import export

    # a downloaded or local model's export is keyed by its weights file as well: a new
    # revision or an edited folder is exported again
    weights = None if files.spec.kind == "pretrained" else files.weights
    return export.cached_export_dir(files.spec, weights)


def _exported(files: ModelFiles) -> OnnxModel:
    """The ONNX export of located open_clip files: from the cache, else made now."""
    from clipdesk.core import export
    from clipdesk.core.onnx_encoder import read_folder

    folder = _export_folder(files)
    if (folder / "clipdesk_export.json").is_file():
        return read_folder(folder, files.spec.identity)
    export.require_torch(f"{files.spec.text} is an open_clip model; converting it to ONNX")
    log.info("exporting %s to ONNX in %s", files.spec.text, folder)
    return export.export_isolated(files, folder, files.spec.identity)


def _cached_files(spec: ModelSpec) -> ModelFiles | None:
    """The open_clip files of a spec if they are on this computer (never downloads)."""
    from clipdesk.core import export

    if spec.kind == "pretrained" and not export.torch_available():
        return None  # finding them needs open_clip's table of pretrained weights
    try:
        return locate(spec, download=False)
    except ClipDeskError:
        return None


def onnx_model(spec: ModelSpec, download: bool = True, tqdm_class=None) -> OnnxModel:
    """The spec's model in the ONNX layout: a folder as it is, a Hub repository in that
    layout, Immich's export of an ``ARCH:TAG``, or an export of the open_clip model.
    Raises ModelUnavailable when offline and nothing usable is on this computer."""
    try:
        found = model_on_disk(spec)
        if found is not None:
            return found
        files = _cached_files(spec)
        if files is not None:  # open_clip weights already here (ClipDesk on torch): no download
            return _exported(files)
        repo = spec.repo if spec.kind == "hf-hub" else spec.immich_repo
        if repo and download:
            found = _hub_onnx(repo, spec.identity, True, tqdm_class)  # None: not that layout
        return found or _exported(locate(spec, download, tqdm_class))
    except ModelUnavailable as exc:
        raise ModelUnavailable(
            f"model {spec.text} is not on this computer and could not be downloaded. {OFFLINE_HELP}"
        ) from exc


def is_cached(spec: ModelSpec) -> bool:
    """Whether the model can load without the network."""
    try:
        if model_on_disk(spec) is not None:
            return True
    except ClipDeskError:
        pass
    try:
        locate(spec, download=False)
        return True
    except ClipDeskError:
        return False


def model_on_disk(spec: ModelSpec) -> OnnxModel | None:
    """The spec's ONNX model if it is on this computer already (nothing downloaded or made)."""
    from clipdesk.core import export
    from clipdesk.core.onnx_encoder import is_onnx_folder, read_folder

    if spec.kind == "local-dir" and spec.path is not None and is_onnx_folder(spec.path):
        return read_folder(spec.path, spec.identity)
    if spec.kind == "pretrained":  # its export's folder is known without open_clip (or torch)
        folder = export.cached_export_dir(spec)
    else:
        files = _cached_files(spec)
        folder = _export_folder(files) if files else None
    if folder is not None and (folder / "clipdesk_export.json").is_file():
        return read_folder(folder, spec.identity)
    repo = spec.repo if spec.kind == "hf-hub" else spec.immich_repo
    return _hub_onnx(repo, spec.identity, download=False) if repo else None


# --------------------------------------------------------------------------- loading

# When each start-up step first finished, for ``benchmarks/startup.py``: (Unix time, CPU
# seconds the process had used by then, all threads).
STARTUP_MARKS: dict[str, tuple[float, float]] = {}


def _mark(name: str) -> None:
    STARTUP_MARKS.setdefault(name, (time.time(), time.process_time()))


class Encoder(Protocol):
    """What both runtimes offer (``onnx_encoder.OnnxEncoder``, ``torch_encoder.TorchEncoder``).

    ``preprocess`` turns a PIL image into the ``(3, S, S)`` float32 array that
    ``encode_images`` takes in batches; every vector returned is a unit vector.
    ``image_calls`` counts images run through the image tower (tests use it to prove that
    renames and moves do not run CLIP).
    """

    spec: ModelSpec
    identity: str
    runtime: str
    device: str
    dim: int
    image_size: int
    preprocess_cfg: dict
    int8: bool
    image_calls: int
    text_calls: int

    def preprocess(self, image) -> np.ndarray: ...
    def encode_images(self, batch: np.ndarray) -> np.ndarray: ...
    def encode_pil(self, images: list) -> np.ndarray: ...
    def encode_texts(self, texts: list[str]) -> np.ndarray: ...


RUNTIMES = ("onnx", "torch")


def runtime_for(device: str = "auto", runtime: str | None = None) -> str:
    """``onnx`` unless the device is a torch one (cuda, mps) or torch is asked for
    (``CLIPDESK_RUNTIME=torch``)."""
    device = (device or "auto").lower()
    if device in ("cuda", "mps") or device.startswith("cuda:"):
        return "torch"
    chosen = (runtime or os.environ.get("CLIPDESK_RUNTIME") or "onnx").lower()
    if chosen not in RUNTIMES:
        raise ClipDeskError(f"unknown runtime {chosen!r}: use onnx or torch")
    if device not in ("auto", "cpu"):
        raise ClipDeskError(f"unknown device {device!r}: use auto, cpu, cuda or mps")
    return chosen


def import_runtime(device: str = "auto") -> None:
    """Import the runtime the device needs (the app does it in the background at start)."""
    if runtime_for(device) == "torch":
        from clipdesk.core.torch_encoder import import_open_clip

        import_open_clip()
    else:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401


def prefetch_runtime_libraries(device: str = "auto") -> None:
    """Ask the kernel to read the runtime's shared libraries ahead (on a cold start that
    read is most of the import); returns at once and holds no lock while the disk works."""
    import importlib.util

    package = "torch" if runtime_for(device) == "torch" else "onnxruntime"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations or not hasattr(os, "posix_fadvise"):
        return
    for folder in spec.submodule_search_locations:
        for lib in sorted(Path(folder, "lib" if package == "torch" else "capi").glob("*.so*")):
            try:
                fd = os.open(lib, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)


def load(spec: ModelSpec, device: str = "auto", download: bool = True, tqdm_class=None,
         int8: bool = False, runtime: str | None = None) -> Encoder:
    """Find (fetching or exporting once if needed) and open a model, ready for inference.
    ``int8``: quantize the image tower for the CPU. Sessions load on first use."""
    if runtime_for(device, runtime) == "torch":
        from clipdesk.core.export import require_torch

        require_torch(f"--device {device} (the torch runtime)")
        from clipdesk.core import torch_encoder

        return torch_encoder.load(locate(spec, download, tqdm_class), device, int8)
    from clipdesk.core.onnx_encoder import OnnxEncoder

    model = onnx_model(spec, download, tqdm_class)
    _mark("model located")
    visual = None
    if int8:
        from clipdesk.core.export import quantized_visual

        visual = quantized_visual(model)
    return OnnxEncoder(spec, model, device=(device or "auto").lower(), visual=visual,
                       int8=int8)



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


