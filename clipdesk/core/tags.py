"""Image to text: rank labels (a built-in vocabulary plus the user's own) for a photo."""

from __future__ import annotations

from importlib import resources

import numpy as np

from clipdesk.core.catalog import Catalog, ModelRow
from clipdesk.core.models import Encoder

TEMPLATES = ("a photo of a {}",)
LOGIT_SCALE = 100.0  # CLIP's trained temperature, to turn cosines into shares


def vocabulary() -> list[str]:
    text = resources.files("clipdesk.data").joinpath("vocabulary.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def label_set(catalog: Catalog) -> list[str]:
    """The labels a photo is described with: the built-in vocabulary and the user's own."""
    return sorted(set(vocabulary()) | set(catalog.labels()))


def label_vectors(catalog: Catalog, model: ModelRow, encoder, labels: list[str]) -> np.ndarray:
    """(len(labels), dim) prompt-ensembled label embeddings, cached in the catalog per model.
    ``encoder`` is a callable returning the Encoder, called only on a cache miss."""
    keys = [f"label:{label}" for label in labels]
    cached = catalog.cached_texts(model, keys)
    missing = [label for label, key in zip(labels, keys, strict=True) if key not in cached]
    if missing:
        enc: Encoder = encoder()
        fresh = {}
        for start in range(0, len(missing), 64):
            chunk = missing[start : start + 64]
            prompts = [t.format(label) for label in chunk for t in TEMPLATES]
            vecs = enc.encode_texts(prompts).reshape(len(chunk), len(TEMPLATES), -1).mean(axis=1)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            fresh.update({f"label:{label}": v for label, v in zip(chunk, vecs, strict=True)})
        catalog.cache_texts(model, fresh)
        cached.update(fresh)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def rank(image_vector: np.ndarray, labels: list[str], vectors: np.ndarray, n: int = 10
         ) -> list[tuple[str, float]]:
    """Top ``n`` labels with their share of the softmax over all labels, best first."""
    logits = LOGIT_SCALE * (vectors @ image_vector.astype(np.float32))
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)[:n]
    return [(labels[i], float(probs[i])) for i in order]
