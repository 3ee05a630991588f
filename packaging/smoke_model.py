"""A tiny random CLIP in the ONNX layout, made without torch, for the frozen app's smoke test.

    python packaging/smoke_model.py DIR      # or: from smoke_model import make_smoke_model

The folder is what ``clipdesk.core.onnx_encoder`` reads (``--model local-dir:DIR``)::

    config.json                  {"embed_dim": 64, "vision_cfg": {...}, "text_cfg": {...}}
    visual/model.onnx            image (N, 3, 32, 32) float32 -> embedding (N, 64), unit length
    visual/preprocess_cfg.json   size 32, CLIP's mean and std, bicubic, shortest side
    textual/model.onnx           text (N, L) int32 -> embedding (N, 64), unit length
    textual/tokenizer.json       a word-level ``tokenizers`` tokenizer (the "hf" kind)
    textual/tokenizer_config.json

Both towers are a few standard operators with random weights (numpy, fixed seed), written
with the ``onnx`` package's helper API: the image tower averages 8x8 blocks of pixels and
projects them, the text tower averages its tokens' embeddings and projects them; both end in
an L2 normalisation. Both axes (batch and text length) are dynamic. It checks the plumbing of
a build (ONNX Runtime, tokenizers, preprocessing, the library), not accuracy. Needs numpy,
onnx and tokenizers: ClipDesk's own dependencies, so the torch-free build environment has them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EMBED_DIM = 64
IMAGE_SIZE = 32
CONTEXT_LENGTH = 77
POOL = 8  # the image tower averages POOL x POOL blocks: (32 / 8)^2 * 3 = 48 features
TEXT_WIDTH = 32
OPSET = 17  # ReduceMean's axes are an attribute up to 17; ONNX Runtime >= 1.14 runs it
IR_VERSION = 8  # what opset 17 needs; onnxruntime >= 1.14 reads it
MEAN = [0.48145466, 0.4578275, 0.40821073]  # OpenAI CLIP's, as most models use
STD = [0.26862954, 0.26130258, 0.27577711]
PAD, UNK = "[PAD]", "[UNK]"
# what the smoke test and selftest say, and a few more: anything else is [UNK]
WORDS = ("a", "photo", "of", "the", "red", "green", "blue", "yellow", "circle", "square",
         "triangle", "dog", "cat", "beach", "sunset", "kids", "on", "at", "with", "and", "in")

CONFIG = {
    "embed_dim": EMBED_DIM,
    "vision_cfg": {"image_size": IMAGE_SIZE},
    "text_cfg": {"context_length": CONTEXT_LENGTH},
}
PREPROCESS_CFG = {
    "size": IMAGE_SIZE,
    "mean": MEAN,
    "std": STD,
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


def _normalised(helper, x: str, out: str) -> list:
    """Nodes that L2-normalise ``x`` along its last axis into ``out``."""
    return [helper.make_node("LpNormalization", [x], [out], axis=-1, p=2)]


def _save(graph, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="clipdesk-smoke-model")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def image_tower(rng):
    """image (N, 3, S, S) -> AveragePool(8) -> Flatten -> MatMul -> L2 norm -> embedding."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    features = 3 * (IMAGE_SIZE // POOL) ** 2
    proj = rng.standard_normal((features, EMBED_DIM)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[POOL, POOL],
                         strides=[POOL, POOL]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["raw"]),
        *_normalised(helper, "raw", "embedding"),
    ]
    return helper.make_graph(
        nodes, "smoke_image_tower",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       ["batch", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBED_DIM])],
        [numpy_helper.from_array(proj, "proj")],
    )


def text_tower(rng, vocab_size: int):
    """text (N, L) int32 -> Gather(table) -> ReduceMean over L -> MatMul -> L2 norm.
    Token 0 is the pad token (``TextTokenizer`` pads every text to the context length)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    table = rng.standard_normal((vocab_size, TEXT_WIDTH)).astype(np.float32)
    # [PAD] (id 0) fills most of every row: nearly nothing, so that the words set the
    # direction, but not zero, so that an empty text still has one
    table[0] *= 1e-3
    proj = rng.standard_normal((TEXT_WIDTH, EMBED_DIM)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "text"], ["tokens"], axis=0),
        helper.make_node("ReduceMean", ["tokens"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["mean", "proj"], ["raw"]),
        *_normalised(helper, "raw", "embedding"),
    ]
    return helper.make_graph(
        nodes, "smoke_text_tower",
        [helper.make_tensor_value_info("text", TensorProto.INT32, ["batch", "length"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMBED_DIM])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(proj, "proj")],
    )


def write_tokenizer(folder: Path) -> int:
    """A word-level tokenizer (lower case, split on whitespace and punctuation) with
    ``[PAD]`` = 0 and ``[UNK]`` = 1; returns the vocabulary size. It has no
    ``<|startoftext|>``, so ClipDesk's TextTokenizer reads it as the "hf" kind."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel

    vocab = {PAD: 0, UNK: 1}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = {"model_max_length": CONTEXT_LENGTH, "pad_token": PAD, "unk_token": UNK,
              "tokenizer_class": "PreTrainedTokenizerFast"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n",
                                                  encoding="utf-8")
    return len(vocab)


def make_smoke_model(folder: Path, seed: int = 0) -> Path:
    """Write the tiny model into ``folder`` (kept as it is if it already holds one)."""
    import numpy as np

    folder = Path(folder)
    needed = ("config.json", "visual/model.onnx", "visual/preprocess_cfg.json",
              "textual/model.onnx", "textual/tokenizer.json")
    if all((folder / name).is_file() for name in needed):
        return folder
    rng = np.random.default_rng(seed)
    vocab_size = write_tokenizer(folder / "textual")
    _save(image_tower(rng), folder / "visual" / "model.onnx")
    _save(text_tower(rng, vocab_size), folder / "textual" / "model.onnx")
    (folder / "visual" / "preprocess_cfg.json").write_text(
        json.dumps(PREPROCESS_CFG, indent=2) + "\n", encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n", encoding="utf-8")
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python packaging/smoke_model.py DIR")
    print(make_smoke_model(Path(sys.argv[1])))
