"""The truncated text encoder gives open_clip's ``encode_text`` result, only faster.

Real open_clip models from tiny configs with random weights: the standard CLIP layout, one
with another width, head count and depth, and a ``CustomTextCLIP`` whose text tower is a
separate ``TextTransformer`` pooling at the tokenizer's end token.
"""

from __future__ import annotations

import copy

import numpy as np
import open_clip
import pytest
import torch

from clipdesk.core import models, torch_encoder
from tinyclip import TINY_MODEL_CFG

OTHER_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 48, "heads": 3, "layers": 3},
}
CUSTOM_CFG = copy.deepcopy(OTHER_CFG)
CUSTOM_CFG["text_cfg"].update(pool_type="eos", eos_id=49407, proj_type="linear", proj_bias=True)

SENTENCE = "a photo of my grandmother holding a small brown dog on the beach at sunset"
WORDS = SENTENCE.split(" ")
PROMPTS = [
    "dog",
    "a photo of a dog",
    " ".join(WORDS),
    " ".join((WORDS * 5)[:70]),  # 72 tokens with start and end
    " ".join(WORDS * 10),  # more than 77 tokens: the tokenizer truncates it
]


def _model(cfg: dict, custom: bool, seed: int):
    torch.manual_seed(seed)
    cls = open_clip.model.CustomTextCLIP if custom else open_clip.model.CLIP
    model = cls(**cfg).eval()
    with torch.no_grad():  # random init leaves some weights at zero; make every part count
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


MODELS = {
    "tiny-clip": (TINY_MODEL_CFG, False),
    "other-clip": (OTHER_CFG, False),
    "custom-text-eos": (CUSTOM_CFG, True),
}


@pytest.mark.parametrize("name", MODELS)
def test_truncated_matches_encode_text(name):
    model = _model(*MODELS[name], seed=1)
    fast = torch_encoder.truncated_text_encoder(model)
    assert fast is not None
    tokens = open_clip.tokenize(PROMPTS)
    assert [int(t.argmax()) for t in tokens][0] == 2 and int(tokens[-1].argmax()) == 76
    with torch.inference_mode():
        full = model.encode_text(tokens)
        for i in range(len(PROMPTS)):  # each alone: cropped to its own end token
            one = fast(tokens[i : i + 1])
            np.testing.assert_allclose(one.numpy(), full[i : i + 1].numpy(), atol=1e-5, rtol=0)
        batch = fast(tokens)  # mixed lengths: padded to the longest
        np.testing.assert_allclose(batch.numpy(), full.numpy(), atol=1e-5, rtol=0)
        short = fast(tokens[:2])
        np.testing.assert_allclose(short.numpy(), full[:2].numpy(), atol=1e-5, rtol=0)
    assert float(full.norm(dim=-1).min()) > 1e-3  # the comparison is not between zeros


@pytest.mark.parametrize("change", ["no_causal_mask", "pool_last", "class_token"])
def test_towers_it_cannot_crop_fall_back(change):
    cfg = copy.deepcopy(OTHER_CFG)
    custom = change != "no_causal_mask"
    if change == "no_causal_mask":
        cfg["text_cfg"]["no_causal_mask"] = True
    elif change == "pool_last":
        cfg["text_cfg"]["pool_type"] = "last"
    else:
        cfg["text_cfg"]["embed_cls"] = True
    model = _model(cfg, custom, seed=2)
    assert torch_encoder.truncated_text_encoder(model) is None


def test_encoder_uses_it_and_agrees_with_open_clip(random_model):
    encoder = models.load(models.ModelSpec.parse(random_model), device="cpu", download=False,
                          runtime="torch")
    assert encoder._encode_text is not encoder.model.encode_text
    got = encoder.encode_texts(PROMPTS)
    with torch.inference_mode():
        want = encoder.model.encode_text(encoder.tokenizer(PROMPTS), normalize=True).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert encoder.text_calls == len(PROMPTS)


def test_open_clip_imports_without_torch_dynamo(random_model):
    """The fast import skips torch._dynamo and leaves nothing behind: a model loads and
    encodes, and a later real import of torch._dynamo.utils works (fresh interpreter)."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import sys
from clipdesk.core import models, torch_encoder
torch_encoder.import_open_clip()
assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
assert "torch._dynamo.utils" not in sys.modules, "the stand-in was left behind"
encoder = models.load(models.ModelSpec.parse({random_model!r}), device="cpu", download=False,
                      runtime="torch")
assert encoder.encode_texts(["a dog"]).shape == (1, encoder.dim)
roi_align = sys.modules["torchvision.ops.roi_align"]  # its stand-in reaches the real one
import torch._dynamo.utils
assert roi_align.is_compile_supported("cpu") == torch._dynamo.utils.is_compile_supported("cpu")
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
