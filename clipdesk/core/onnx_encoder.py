"""The ONNX Runtime encoder: CLIP on the CPU (or CoreML, DirectML, CUDA) without torch.

A model folder in the layout Immich publishes on the Hugging Face Hub::

    config.json                  open_clip's model config (embed_dim, vision_cfg, text_cfg)
    visual/model.onnx            input ``image`` (N, 3, S, S) float32 -> unit embeddings
    visual/preprocess_cfg.json   size, mean, std, interpolation, resize_mode
    textual/model.onnx           input ``text`` (N, L) int32, or ``input_ids`` and
                                 ``attention_mask`` for Hugging Face text encoders
    textual/tokenizer.json       the tokenizer, with tokenizer_config.json beside it
    clipdesk_export.json         only in ClipDesk's own exports (see ``export``)

Immich's graphs take a batch of exactly 1 and texts padded to the context length; ClipDesk's
exports keep both axes dynamic, so indexing runs in batches and a query runs only up to its
end token. The two towers are two sessions that load on first use: a search loads only the
text session. Sessions are safe to call from several threads, so a typed query never waits
for an indexing batch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipdesk.core import preprocess as preprocessing
from clipdesk.core.errors import ClipDeskError

log = logging.getLogger(__name__)

EXPORT_INFO = "clipdesk_export.json"
ACCELERATORS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")


@dataclass
class OnnxModel:
    """A model folder in the ONNX layout, checked for the files it needs."""

    root: Path
    config: dict
    identity: str  # the model it is, in the catalog (see models.Encoder)
    text_truncatable: bool = False  # ClipDesk's export: a query may stop at its end token

    @property
    def visual(self) -> Path:
        return self.root / "visual" / "model.onnx"

    @property
    def textual(self) -> Path:
        return self.root / "textual" / "model.onnx"

    @property
    def context_length(self) -> int:
        return int(self.config.get("text_cfg", {}).get("context_length") or 77)

    def preprocess_cfg(self) -> dict:
        path = self.root / "visual" / "preprocess_cfg.json"
        if path.is_file():
            return _read_json(path)
        size = self.config.get("vision_cfg", {}).get("image_size", 224)
        return {"size": size}

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClipDeskError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ClipDeskError(f"{path} is not a JSON object")
    return data


def is_onnx_folder(folder: Path) -> bool:
    return (folder / "textual" / "model.onnx").is_file() or (folder / "visual" / "model.onnx").is_file()


def read_folder(folder: Path, identity: str) -> OnnxModel:
    """Check an ONNX-layout folder; a missing piece is one clear error."""
    folder = Path(folder)
    for need in ("config.json", "visual/model.onnx", "textual/model.onnx",
                 "textual/tokenizer.json"):
        if not (folder / need).is_file():
            raise ClipDeskError(f"model folder {folder} has no {need} (an ONNX model needs "
                                "config.json, visual/model.onnx, textual/model.onnx and "
                                "textual/tokenizer.json)")
    config = _read_json(folder / "config.json")
    info = _read_json(folder / EXPORT_INFO) if (folder / EXPORT_INFO).is_file() else {}
    return OnnxModel(folder, config, info.get("identity") or identity,
                     bool(info.get("text_truncatable")))


def _providers(device: str, tower: str) -> list[str]:
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    # CoreML compiles for fixed shapes; a query's length changes every time (Immich keeps
    # its text tower on the CPU for the same reason)
    wanted = [p for p in ACCELERATORS if p in available
              and not (tower == "text" and p == "CoreMLExecutionProvider")]
    return [*wanted, "CPUExecutionProvider"]


def _session(path: Path, device: str, tower: str):
    """An InferenceSession; the errors a user can meet become one line each."""
    import onnxruntime as ort

    _mark("onnxruntime imported")
    if not path.is_file():
        raise ClipDeskError(f"model file missing: {path}")
    providers = _providers(device, tower)
    opts = ort.SessionOptions()
    cores = os.cpu_count() or 1
    # the image tower gets every core (the decode threads mostly wait on it); a query's text
    # tower is small and latency-bound
    # every core; a query's text tower is small: on 2 cores one thread encodes a query in
    # 14 ms against 24 ms with two, and leaves the other core to indexing
    # (benchmarks/query_latency.py, benchmarks/search_while_indexing.py)
    opts.intra_op_num_threads = cores if tower == "image" else (1 if cores <= 4 else 2)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # spinning threads steal the cores the decode workers (and the other tower) need
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if "DmlExecutionProvider" in providers:  # DirectML's documented requirements
        opts.enable_mem_pattern = False
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # ORT raises its own types; all mean "this file will not load"
        text = str(exc)
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        if "is not a registered function/op" in text or "custom op" in text.lower():
            raise ClipDeskError(f"refused {path}: the graph needs a custom-op library; a model "
                                "file is data, and ClipDesk never loads code with it") from exc
        if "protobuf" in text.lower() or "invalid_protobuf" in text.lower():
            raise ClipDeskError(f"model file {path} is damaged or incomplete (delete it and "
                                "download or export it again)") from exc
        raise ClipDeskError(f"cannot load model file {path}: {first}") from exc


def _mark(name: str) -> None:
    from clipdesk.core.models import _mark as mark

    mark(name)


def _dtype(onnx_type: str):
    return {"tensor(int32)": np.int32, "tensor(int64)": np.int64,
            "tensor(float16)": np.float16}.get(onnx_type, np.float32)


class OnnxEncoder:
    """CLIP on ONNX Runtime: the same interface as ``torch_encoder.TorchEncoder``."""

    runtime = "onnx"

    def __init__(self, spec, model: OnnxModel, device: str = "auto", visual: Path | None = None,
                 int8: bool = False):
        self.spec = spec
        self.identity = model.identity
        self.onnx = model
        self.int8 = int8
        self._visual = visual or model.visual
        self._device = device
        self.preprocess_cfg = model.preprocess_cfg()
        try:
            self.preprocess = preprocessing.make(self.preprocess_cfg)
            self.image_size = preprocessing.image_size(self.preprocess_cfg)
        except ValueError as exc:
            raise ClipDeskError(f"model {spec.text}: {exc}") from exc
        embed = model.config.get("embed_dim")
        self._dim: int | None = int(embed) if embed else None
        self._dim_from = "config.json"
        self.image_calls = 0
        self.text_calls = 0
        self._lock = threading.Lock()  # loading sessions and counting, never around a run
        self._text = self._image = self.tokenizer = None
        self.device = "cpu"

    # ------------------------------------------------------------------ sessions

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._text_session()
        assert self._dim is not None
        return self._dim

    def _check_dim(self, tower: str, dim) -> None:
        if not isinstance(dim, int):
            return  # a symbolic size: checked on the first result
        if self._dim is None:
            self._dim, self._dim_from = dim, f"the {tower} tower"
        elif dim != self._dim:
            raise ClipDeskError(f"model {self.spec.text} is inconsistent: its {tower} tower gives "
                                f"{dim}-d vectors, {self._dim_from} says {self._dim}")

    def _text_session(self):
        with self._lock:
            if self._text is None:
                from clipdesk.core.tokenizer import TextTokenizer

                session = _session(self.onnx.textual, self._device, "text")
                _mark("text session loaded")
                self._check_dim("text", session.get_outputs()[0].shape[-1])
                inputs = {i.name: i for i in session.get_inputs()}
                ids = inputs.get("text") or inputs.get("input_ids")
                if ids is None:
                    raise ClipDeskError(f"{self.onnx.textual} takes no 'text' or 'input_ids' "
                                        f"input (it takes {', '.join(inputs)})")
                shape = ids.shape
                length = shape[1] if len(shape) > 1 and isinstance(shape[1], int) else None
                self._text_feeds = [(i.name, _dtype(i.type)) for i in session.get_inputs()]
                self._text_batch1 = shape[0] == 1
                self._text_length = length  # fixed by the graph (Immich's: 77)
                self.tokenizer = TextTokenizer.from_folder(
                    self.onnx.root / "textual", length or self.onnx.context_length)
                self._text = session
            return self._text

    def _image_session(self):
        with self._lock:
            if self._image is None:
                session = _session(self._visual, self._device, "image")
                self._check_dim("image", session.get_outputs()[0].shape[-1])
                inp = session.get_inputs()[0]
                self._image_input = (inp.name, _dtype(inp.type))
                self._image_batch1 = inp.shape[0] == 1
                providers = session.get_providers()
                if providers and providers[0] != "CPUExecutionProvider":
                    self.device = providers[0].removesuffix("ExecutionProvider").lower()
                self._image = session
            return self._image

    def load_text(self) -> None:
        """Load the text session now (the app does it in the background at start)."""
        self._text_session()

    def load_image(self) -> None:
        self._image_session()

    def _checked(self, out: np.ndarray, tower: str) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)
        if out.shape[-1] != self._dim:
            self._check_dim(tower, int(out.shape[-1]))
        norms = np.linalg.norm(out, axis=-1, keepdims=True)
        return out / np.maximum(norms, 1e-12)  # Immich's are unit already; others may not be

    # ------------------------------------------------------------------ encoding

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) preprocessed float32 array -> (N, dim) float32 unit vectors."""
        session = self._image_session()
        name, dtype = self._image_input
        batch = np.ascontiguousarray(batch, dtype=dtype)
        if self._image_batch1:
            out = np.concatenate([session.run(None, {name: batch[i : i + 1]})[0]
                                  for i in range(len(batch))])
        else:
            out = session.run(None, {name: batch})[0]
        with self._lock:
            self.image_calls += int(batch.shape[0])
        return self._checked(out, "image")

    def encode_pil(self, images: list) -> np.ndarray:
        return self.encode_images(np.stack([self.preprocess(im) for im in images]))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Unit text embeddings; ClipDesk's exports run only up to the longest end token."""
        session = self._text_session()
        ids, mask = self.tokenizer.encode(list(texts))
        end = self.tokenizer.end_token_id
        if self.onnx.text_truncatable and end is not None and self._text_length is None:
            n = int((ids == end).argmax(axis=1).max()) + 1
            ids, mask = ids[:, :n], mask[:, :n]
        rows = [slice(i, i + 1) for i in range(len(ids))] if self._text_batch1 else [slice(None)]
        outs = []
        for rows_ in rows:
            feeds = {}
            for name, dtype in self._text_feeds:
                source = mask if name == "attention_mask" else ids
                feeds[name] = np.ascontiguousarray(source[rows_], dtype=dtype)
            outs.append(session.run(None, feeds)[0])
        with self._lock:
            self.text_calls += len(texts)
        return self._checked(np.concatenate(outs), "text")
