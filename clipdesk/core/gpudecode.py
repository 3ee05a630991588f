"""Decoding JPEGs in batches on the model's device, with the model's transform as tensor ops.

On a GPU the CPU's decode threads are what limits indexing (issue 15: four threads of PIL
decoding fed a ViT-B-32 at 98 photos/s that runs at 21,000/s in bf16; nvJPEG through
torchvision decoded 12 MP JPEGs at 626/s in batches of 64). So with the torch runtime on CUDA
the indexer's workers only read, hash and parse the header of a JPEG (``header``: size, EXIF
orientation and date, with ``decode``'s own limits and errors), and the model's thread decodes
a batch of them on the device (``torchvision.io.decode_jpeg(..., device=...)``), turns each by
its EXIF orientation, and resizes, crops and normalises it there. Its thumbnail is made from
the same decoded tensor and saved by ``decode.save_thumbnail``, as the CPU path does.

Every other format, and any JPEG the device's decoder rejects (a CMYK or an arithmetic-coded
JPEG, a damaged one), goes through ``decode.decode`` on the CPU exactly as before, so what is
indexed, its error messages and its content hash do not depend on the device. A share of the
JPEGs (``cpu_share``) can stay on the CPU workers too, so that both decoders work side by side,
and a camera JPEG whose MPF preview serves (``decode.has_camera_preview``) always does: a core
decodes its 1440x1080 preview faster than the device decodes the whole photo.

The pipeline also runs on ``device="cpu"`` (torchvision's decoder is libjpeg there): that is how
the tests check it against the PIL path, pixels and embeddings.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from clipdesk.core import decode
from clipdesk.core import preprocess as preprocessing

log = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"
# Decoded pixels held on the device at once: a batch of 12 MP photos is split so that at most
# this many pixels (3 bytes each, uint8) are decoded together (about 0.75 GB).
MAX_BATCH_PIXELS = 256_000_000
# What one CPU core and nvJPEG each decode, 12 MP JPEGs (issue 15, on an H200 machine): PIL
# draft decoding 21 photos/s a core; nvJPEG through torchvision 626 photos/s. The CPU's share
# of JPEGs on CUDA is what keeps both busy: cores * 21 / (cores * 21 + 626).
CPU_JPEG_PER_CORE = 21.0
DEVICE_JPEG_RATE = 626.0


CPU_BATCH = 32  # images per model call on the CPU (benchmarks/index_throughput.py)
CUDA_BATCH = 128  # on a CUDA GPU: nvJPEG and the model both want large batches (issue 15)


def batch_size_for(encoder) -> int:
    """The indexer's default batch for ``encoder``'s device."""
    device = str(getattr(encoder, "device", "cpu"))
    return CUDA_BATCH if device.startswith("cuda") else CPU_BATCH


@dataclass
class Pending:
    """A JPEG read and checked by a worker, its pixels left for the device."""

    data: bytes
    orientation: int  # EXIF orientation, 1 when none
    pixels: int = 12_000_000  # width x height, from the header: sizes the device's batches


@dataclass
class Decoded:
    """One photo decoded on the device: the model's input, and the thumbnail's source."""

    tensor: object  # torch.Tensor (3, S, S) float32 on the device
    thumbnail_source: Image.Image  # RGB, at least twice the thumbnail's size (as decode gives)


def is_jpeg(data: bytes) -> bool:
    return data[:3] == JPEG_MAGIC


def header(data: bytes, digest: str) -> tuple[decode.Photo, int]:
    """A JPEG's facts without its pixels: (Photo with no image, EXIF orientation). The same
    header reading, pixel limit and one-line errors as ``decode.decode``."""
    if not data:
        raise decode.DecodeError("empty file (0 bytes)")
    with decode._reading():
        opened = decode._open(data)
        return decode.Photo(digest, *opened.shown_size, opened.taken_at), opened.orientation


def orient(tensor, orientation: int):
    """A (C, H, W) tensor turned as EXIF ``orientation`` says (PIL's ``_TRANSPOSE`` in
    ``decode``: the same picture, upright)."""
    import torch

    if orientation == 2:
        return tensor.flip(-1)
    if orientation == 3:
        return tensor.flip(-1).flip(-2)
    if orientation == 4:
        return tensor.flip(-2)
    if orientation == 5:
        return tensor.transpose(-1, -2)
    if orientation == 6:
        return torch.rot90(tensor, -1, (-2, -1))
    if orientation == 7:
        return tensor.transpose(-1, -2).flip(-1).flip(-2)
    if orientation == 8:
        return torch.rot90(tensor, 1, (-2, -1))
    return tensor


class DeviceJpegDecoder:
    """Decodes batches of JPEGs on ``device`` into the model's input for ``preprocess_cfg``.
    ``available`` says whether it can run there at all."""

    def __init__(self, device: str, preprocess_cfg: dict, min_side: int,
                 cpu_share: float = 0.0):
        import torch

        self.device = torch.device(device)
        self.size = preprocessing.image_size(preprocess_cfg)
        self.mode = preprocess_cfg.get("resize_mode") or "shortest"
        if self.mode not in ("shortest", "squash"):
            raise ValueError(f"resize_mode {self.mode!r} is decoded on the CPU")
        interpolation = preprocess_cfg.get("interpolation") or "bicubic"
        from torchvision.transforms import InterpolationMode

        self.interpolation = {"bilinear": InterpolationMode.BILINEAR,
                              "nearest": InterpolationMode.NEAREST}.get(
                                  interpolation, InterpolationMode.BICUBIC)
        mean = np.array(preprocess_cfg.get("mean") or preprocessing.OPENAI_MEAN, np.float32)
        std = np.array(preprocess_cfg.get("std") or preprocessing.OPENAI_STD, np.float32)
        mean, std = np.resize(mean, 3), np.resize(std, 3)
        self.scale = torch.tensor(1.0 / (255.0 * std)).view(3, 1, 1).to(self.device)
        self.shift = torch.tensor(-mean / std).view(3, 1, 1).to(self.device)
        self.min_side = min_side  # the short side the CPU path decodes to (model and thumbnail)
        self.cpu_share = cpu_share
        self._routed = [0, 0]  # JPEGs given to the CPU, to the device
        self._lock = threading.Lock()
        self.rejected = 0  # JPEGs the device's decoder could not decode (decoded on the CPU)

    @classmethod
    def for_encoder(cls, encoder, min_side: int, workers: int) -> DeviceJpegDecoder | None:
        """The decoder an indexer uses with ``encoder``: on a CUDA device with the torch
        runtime, when torchvision is there; None otherwise (the CPU path)."""
        device = str(getattr(encoder, "device", "cpu"))
        if getattr(encoder, "runtime", None) != "torch" or not device.startswith("cuda"):
            return None
        share = workers * CPU_JPEG_PER_CORE / (workers * CPU_JPEG_PER_CORE + DEVICE_JPEG_RATE)
        try:
            return cls(device, encoder.preprocess_cfg, min_side, cpu_share=share)
        except (ImportError, ValueError) as exc:
            log.info("JPEGs are decoded on the CPU: %s", exc)
            return None

    def takes(self, data: bytes, name: str | None = None) -> bool:
        """Whether this photo is a JPEG that goes to the device (the rest of ``cpu_share``
        stays on the CPU). Called by the decode workers, so counted under a lock."""
        if not is_jpeg(data) or (name is not None and decode.is_raw_name(name)):
            return False
        with self._lock:
            cpu, dev = self._routed
            to_cpu = self.cpu_share > 0 and cpu < self.cpu_share * (cpu + dev + 1)
            self._routed[0 if to_cpu else 1] += 1
        return not to_cpu

    # ------------------------------------------------------------------ the batch

    def decode(self, items: list[Pending]) -> list[Decoded | None]:
        """Each JPEG decoded on the device, or None where its decoder rejected it."""
        out: list[Decoded | None] = []
        start = 0
        while start < len(items):  # sub-batches of at most MAX_BATCH_PIXELS
            stop, pixels = start, 0
            while stop < len(items) and (stop == start or pixels < MAX_BATCH_PIXELS):
                pixels += items[stop].pixels
                stop += 1
            out += self._decode_some(items[start:stop])
            start = stop
        return out

    def _decode_some(self, items: list[Pending]) -> list[Decoded | None]:
        import torch

        datas = [torch.frombuffer(bytearray(p.data), dtype=torch.uint8) for p in items]
        try:
            images = self._decode_jpeg(datas)
        except Exception:  # one rejected JPEG fails the batch: find it, one by one
            images = []
            for data in datas:
                try:
                    images.append(self._decode_jpeg(data))
                except Exception as exc:
                    log.debug("device JPEG decoder rejected a photo: %s", exc)
                    images.append(None)
        out: list[Decoded | None] = []
        for pending, image in zip(items, images, strict=True):
            if image is None or image.ndim != 3 or image.shape[0] != 3:
                self.rejected += 1
                out.append(None)
                continue
            out.append(self._finish(orient(image, pending.orientation)))
        return out

    def _decode_jpeg(self, data):
        """torchvision's decoder (nvJPEG on CUDA, libjpeg on the CPU), one tensor or a list.
        torchvision 0.29 deprecates its decoders in favour of torchcodec, which has no JPEG
        decoder yet: its warning is silenced here, where the choice is made."""
        import warnings

        from torchvision.io import ImageReadMode, decode_jpeg

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The image decoding", DeprecationWarning)
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)

    def _finish(self, image) -> Decoded:
        """An upright (3, H, W) uint8 image: reduced once (antialiased) to the size the CPU path
        decodes to, then the model's input and the thumbnail's source made from that."""
        import torch
        from torchvision.transforms.v2 import functional as F

        h, w = int(image.shape[-2]), int(image.shape[-1])
        factor = min(h, w) / self.min_side
        if factor >= 2:  # as the CPU path: whole-factor reduction, the result still covers
            whole = int(factor)
            image = F.resize(image, [max(1, h // whole), max(1, w // whole)],
                             interpolation=F.InterpolationMode.BILINEAR, antialias=True)
        source = image
        h, w = int(image.shape[-2]), int(image.shape[-1])
        if self.mode == "squash":
            target = [self.size, self.size]
        else:  # torchvision's Resize(int): the short side to size, the long one truncated
            long = int(self.size * max(w, h) / min(w, h))
            target = [self.size, long] if h <= w else [long, self.size]
        if [h, w] != target:
            image = F.resize(image, target, interpolation=self.interpolation, antialias=True)
        image = F.center_crop(image, [self.size, self.size])
        tensor = image.to(torch.float32) * self.scale + self.shift
        thumb = Image.fromarray(source.permute(1, 2, 0).contiguous().cpu().numpy(), "RGB")
        return Decoded(tensor, thumb)


def stack(tensors: list, device) -> object:
    """One (N, 3, S, S) batch on ``device`` from device tensors and CPU numpy arrays (those
    moved together, in one copy through pinned memory)."""
    import torch

    from clipdesk.core.torch_encoder import to_device

    out = list(tensors)
    on_cpu = [i for i, t in enumerate(tensors) if not isinstance(t, torch.Tensor)]
    if on_cpu:
        moved = to_device(np.stack([tensors[i] for i in on_cpu]), str(device))
        for j, i in enumerate(on_cpu):
            out[i] = moved[j]
    return torch.stack(out)


def for_indexer(encoder, min_side: int, workers: int, wanted: bool | None
                ) -> DeviceJpegDecoder | None:
    """The decoder an indexer uses: ``wanted`` None decides by the device (CUDA with the
    torch runtime; ``CLIPDESK_DEVICE_DECODE=0`` turns it off, for comparisons), True uses it on the encoder's device whatever it is (the tests, on the
    CPU), False never."""
    if wanted is None:
        if os.environ.get("CLIPDESK_DEVICE_DECODE", "1") == "0":  # the CPU decoders alone
            return None
        return DeviceJpegDecoder.for_encoder(encoder, min_side, workers)
    if not wanted or getattr(encoder, "runtime", None) != "torch":
        return None
    return DeviceJpegDecoder(str(encoder.device), encoder.preprocess_cfg, min_side)


def assemble(decoder: DeviceJpegDecoder, items: list,
             cpu_decode: Callable[[object, bytes], None],
             save_thumbnail: Callable[[str, Image.Image], None]) -> list:
    """The model's inputs for ``items`` (the indexer's prepared photos, each with ``tensor``
    already made on the CPU or ``pending`` JPEG bytes for the device). Pending ones are
    decoded on the device; their thumbnails go to ``save_thumbnail(hash, image)``; a JPEG the
    device rejected goes through ``cpu_decode(item, data)``, which sets its ``tensor`` or
    ``error``.
    Returns the items' tensors in order (None for an item that failed)."""
    pending = [it for it in items if getattr(it, "pending", None) is not None]
    decoded = decoder.decode([it.pending for it in pending]) if pending else []
    for item, result in zip(pending, decoded, strict=True):
        data, item.pending = item.pending.data, None
        if result is None:
            cpu_decode(item, data)
            continue
        item.tensor = result.tensor
        save_thumbnail(item.photo.hash, result.thumbnail_source)
    return [it.tensor for it in items]
