"""Real, tiny open_clip models for the tests: random ones, and one trained on coloured shapes.

The trained model learns captions such as "a photo of a red circle" well enough that search
through the full pipeline (files on disk, PNG or JPEG, any size) ranks the right images first.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from clipdesk.core.models import save_local_dir

# A ResNet image tower: it learns shapes from scratch in a hundred steps, where a tiny ViT
# needs several times longer and still confuses small circles with squares.
TINY_MODEL_CFG: dict = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16, "head_width": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 205, 0),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
SCALE = (0.45, 0.75)  # the shape's extent, as a fraction of the image's shorter side
CLASSES: list[tuple[str, str]] = [(c, s) for c in COLORS for s in SHAPES]
THREADS = 1  # fixed for reproducible training; unlike two, one stays fast on a busy CPU


def caption(color: str, shape: str) -> str:
    """The caption the trained model learns for one class."""
    return f"a photo of a {color} {shape}"


def draw_shape(
    color: str, shape: str, rng: np.random.Generator, size: int | tuple[int, int] = 96
) -> Image.Image:
    """One solid shape, ``SCALE`` of the shorter side, on a light, noisy, neutral background.

    ``size`` is a side or ``(width, height)``; the shape stays inside the central square,
    which is what CLIP's resize-and-centre-crop keeps.
    """
    w, h = (size, size) if isinstance(size, int) else size
    side = min(w, h)
    tint = rng.integers(175, 236) + rng.integers(-12, 13, size=3)
    noise = rng.normal(0.0, 10.0, size=(h, w, 3))
    image = Image.fromarray(np.clip(tint + noise, 0, 255).astype(np.uint8))
    extent = side * rng.uniform(*SCALE)
    cx, cy = np.array([w, h]) / 2 + rng.uniform(-1, 1, size=2) * (side - extent) / 2
    left, top, right, bottom = cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2
    fill = tuple(int(v) for v in np.clip(np.add(COLORS[color], rng.integers(-12, 13, 3)), 0, 255))
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((left, top, right, bottom), fill=fill)
    elif shape == "square":
        draw.rectangle((left, top, right, bottom), fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, top), (right, bottom), (left, bottom)], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return image


def _build(seed: int):  # -> open_clip.model.CLIP
    import open_clip
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return open_clip.model.CLIP(**TINY_MODEL_CFG)


def random_model_dir(folder: Path, seed: int = 0) -> Path:
    """Save an untrained tiny CLIP (seeded random weights) as a ``local-dir`` model folder."""
    return save_local_dir(_build(seed), TINY_MODEL_CFG, Path(folder))


def _training_image(rng: np.random.Generator, color: str, shape: str) -> Image.Image:
    """A shape at a random size and aspect ratio, sometimes JPEG-compressed, like files on disk."""
    side = int(rng.integers(48, 160))
    size = (side, int(side * rng.uniform(0.75, 1.0)))
    image = draw_shape(color, shape, rng, size if rng.random() < 0.5 else size[::-1])
    if rng.random() < 0.5:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


def train_tiny_clip(folder: Path, seed: int = 0, per_class: int = 150, steps: int = 150) -> Path:
    """Train the tiny CLIP contrastively on coloured shapes; save it as a ``local-dir`` folder."""
    import open_clip
    import torch
    import torch.nn.functional as F
    from open_clip.transform import PreprocessCfg, image_transform_v2

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        model = _build(seed)
        # What loading the saved folder gives (default preprocess_cfg): resize, crop, normalise.
        preprocess = image_transform_v2(PreprocessCfg(size=model.visual.image_size), is_train=False)
        rng = np.random.default_rng(seed)
        labels = torch.arange(len(CLASSES)).repeat(per_class)
        images = torch.stack([preprocess(_training_image(rng, *CLASSES[i])) for i in labels])
        tokens = open_clip.tokenize([caption(*c) for c in CLASSES])  # the default SimpleTokenizer
        model.token_embedding.requires_grad_(False)  # 3M weights, almost all for unused words
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(steps):
            pick = torch.randint(len(labels), (96,), generator=generator)
            image_emb = model.encode_image(images[pick], normalize=True)
            text_emb = model.encode_text(tokens, normalize=True)
            logits = model.logit_scale.exp() * image_emb @ text_emb.T  # (batch, classes)
            y = labels[pick]
            # Texts are the 12 distinct captions; each one's targets are all its class's images.
            soft = F.one_hot(y, len(CLASSES)).float().T
            soft = soft / soft.sum(1, keepdim=True).clamp(min=1)
            present = soft.sum(1) > 0
            text_loss = -(soft * F.log_softmax(logits.T, dim=1)).sum(1)[present].mean()
            loss = (F.cross_entropy(logits, y) + text_loss) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
        model.eval()
    finally:
        torch.set_num_threads(threads)
    return save_local_dir(model, TINY_MODEL_CFG, Path(folder))


def immich_layout(open_clip_dir: Path, folder: Path) -> Path:
    """Write a ``local-dir`` open_clip model the way Immich's exporter publishes models: a
    top-level ``config.json``; ``visual/model.onnx`` (input ``image``, batch fixed at 1) with
    ``visual/preprocess_cfg.json``; ``textual/model.onnx`` (int32 input ``text`` of the full
    context length, batch 1) with the Hugging Face tokenizer files; unit-length outputs; no
    ClipDesk export record."""
    import json
    import warnings

    import open_clip
    import torch

    from clipdesk.core.tokenizer import write_clip_tokenizer

    config = json.loads((Path(open_clip_dir) / "open_clip_config.json").read_text())
    model_cfg = config["model_cfg"]
    model = open_clip.create_model(f"local-dir:{open_clip_dir}", pretrained=None)
    open_clip.load_checkpoint(model, str(Path(open_clip_dir) / "open_clip_model.safetensors"))
    model.eval()
    for param in model.parameters():  # as Immich's exporter
        param.requires_grad_(False)
    folder = Path(folder)
    (folder / "visual").mkdir(parents=True, exist_ok=True)
    (folder / "textual").mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model_cfg))
    (folder / "visual" / "preprocess_cfg.json").write_text(
        json.dumps(open_clip.get_model_preprocess_cfg(model)))
    context = model_cfg["text_cfg"].get("context_length", 77)
    write_clip_tokenizer(folder / "textual", context)
    size = model_cfg["vision_cfg"]["image_size"]

    class Visual(torch.nn.Module):
        def forward(self, image):
            return model.encode_image(image, normalize=True)

    class Textual(torch.nn.Module):
        def forward(self, text):
            return model.encode_text(text, normalize=True)

    torch.backends.mha.set_fastpath_enabled(False)  # as Immich's exporter: plain ops
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Visual(), (torch.randn(1, 3, size, size),),
                          str(folder / "visual" / "model.onnx"), input_names=["image"],
                          output_names=["embedding"], opset_version=17, dynamo=False)
        torch.onnx.export(Textual(), (torch.ones(1, context, dtype=torch.int32),),
                          str(folder / "textual" / "model.onnx"), input_names=["text"],
                          output_names=["embedding"], opset_version=17, dynamo=False)
    return folder


def photo_folder(folder: Path, n: int, seed: int = 0, prefix: str = "p") -> list[Path]:
    """``n`` JPEG photos of the shape classes in turn, 320x240, named PREFIX{seed}-{i}.jpg."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        color, shape = CLASSES[i % len(CLASSES)]
        path = folder / f"{prefix}{seed}-{i}.jpg"
        draw_shape(color, shape, rng, size=(320, 240)).save(path, quality=90)
        out.append(path)
    return out
