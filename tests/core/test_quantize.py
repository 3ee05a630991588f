"""int8 image towers (ONNX Runtime and torch) and the numpy preprocess, on real tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import tinyclip
from clipdesk.core import models, torch_encoder
from clipdesk.core import preprocess as preprocessing
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library

TINY_VIT_CFG: dict = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def vit_model(tmp_path_factory) -> str:
    import open_clip
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-vit")
    models.save_local_dir(open_clip.model.CLIP(**TINY_VIT_CFG), TINY_VIT_CFG, folder)
    return f"local-dir:{folder}"


def _shapes(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [tinyclip.draw_shape(*tinyclip.CLASSES[i % len(tinyclip.CLASSES)], rng, size=(80, 64))
            for i in range(n)]


def test_onnx_int8_image_tower_agrees_with_fp32(vit_model):
    spec = models.ModelSpec.parse(vit_model)
    fp32 = models.load(spec, device="cpu")
    int8 = models.load(spec, device="cpu", int8=True)
    assert (fp32.runtime, int8.runtime) == ("onnx", "onnx")
    assert not fp32.int8 and int8.int8
    import onnx

    graph = onnx.load(str(int8._visual)).graph
    assert any(n.op_type in ("MatMulInteger", "DynamicQuantizeLinear") for n in graph.node)
    images = _shapes(24)
    a, b = fp32.encode_pil(images), int8.encode_pil(images)
    assert (a * b).sum(1).min() > 0.99
    assert not np.array_equal(a, b)  # it really ran a different (quantized) graph
    np.testing.assert_array_equal(fp32.encode_texts(["a red circle"]),
                                  int8.encode_texts(["a red circle"]))
    again = models.load(spec, device="cpu", int8=True)  # quantized once, then cached
    assert again._visual == int8._visual


def test_vit_mlp_linears_become_int8_and_embeddings_agree(vit_model):
    import torch

    spec = models.ModelSpec.parse(vit_model)
    fp32 = models.load(spec, device="cpu", runtime="torch")
    int8 = models.load(spec, device="cpu", int8=True, runtime="torch")
    assert not fp32.int8 and int8.int8
    kinds = [type(m).__name__ for m in int8.model.visual.modules()]
    # two MLP linears per block; attention's out_proj is not dynamically quantizable
    assert kinds.count("Linear") == 2 * TINY_VIT_CFG["vision_cfg"]["layers"]
    assert all(type(m).__module__.startswith("torch.ao.nn.quantized")
               for m in int8.model.visual.modules() if type(m).__name__ == "Linear")
    assert not any(type(m) is torch.nn.Linear for m in int8.model.visual.modules())
    images = _shapes(24)
    a, b = fp32.encode_pil(images), int8.encode_pil(images)
    cos = (a * b).sum(1)
    assert cos.min() > 0.99
    assert not np.array_equal(a, b)  # it really ran a different (quantized) tower
    # the text tower is untouched: queries match fp32 exactly
    np.testing.assert_array_equal(fp32.encode_texts(["a red circle"]),
                                  int8.encode_texts(["a red circle"]))


def test_quantization_does_not_apply_off_the_cpu(vit_model):
    encoder = models.load(models.ModelSpec.parse(vit_model), device="cpu", runtime="torch")
    assert torch_encoder.quantize_image_tower(encoder.model, "cuda") == 0


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_int8_resnet_tower_still_finds_each_class(runtime, trained_model, shapes_folder,
                                                  tmp_path):
    """The trained tiny model is a ResNet. torch leaves it alone (no MLP; its attention pool
    passes its Linears' weights to a functional call, which quantized layers would break);
    ONNX Runtime quantizes its matrix products, and search still finds every class."""
    spec = models.ModelSpec.parse(trained_model)
    encoder = models.load(spec, device="cpu", int8=True, runtime=runtime)
    assert encoder.int8 is (runtime == "onnx")
    library = Library(tmp_path / "lib")
    report = Indexer(library, encoder, on_progress=lambda *_: None).run([shapes_folder])
    assert report.embedded == 24 and not report.failed
    index = library.vectors(library.model_row(encoder.spec, encoder.dim))
    paths = dict(library.catalog.db.execute("SELECT id, path FROM files").fetchall())
    for color, shape in tinyclip.CLASSES:
        query = encoder.encode_texts([tinyclip.caption(color, shape)])[0]
        keys, _ = index.search(query, 2)
        names = [paths[int(k)].rsplit("/", 1)[-1].rsplit("-", 1)[0] for k in keys]
        assert names == [f"{color}-{shape}"] * 2
    library.close()


@pytest.mark.parametrize("size,mode", [((500, 375), "RGB"), ((375, 500), "RGB"), ((224, 224), "RGB"),
                                       ((223, 900), "RGB"), ((40, 30), "RGB"), ((300, 200), "L")])
@pytest.mark.parametrize("cfg", [{}, {"resize_mode": "squash"}, {"interpolation": "bilinear"},
                                 {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "size": 32},
                                 {"resize_mode": "longest", "fill_color": 0}])
def test_numpy_preprocess_matches_open_clip(size, mode, cfg):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    full = {"size": 224, **cfg}
    reference = image_transform_v2(PreprocessCfg(**full), is_train=False)
    fast = preprocessing.make(full)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    image = image.convert(mode)
    want, got = reference(image).numpy(), fast(image)
    assert got.shape == want.shape and got.dtype == want.dtype and got.flags.c_contiguous
    assert float(np.abs(got - want).max()) < 1e-5


def test_numpy_preprocess_refuses_what_it_cannot_reproduce():
    with pytest.raises(ValueError):
        preprocessing.make({"size": (224, 256)})
    with pytest.raises(ValueError):
        preprocessing.make({"size": 224, "resize_mode": "zoom"})


def test_the_cli_offers_int8_for_index_and_watch():
    from clipdesk.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["index", "photos", "--int8"]).int8 is True
    assert parser.parse_args(["index", "photos"]).int8 is False
    assert parser.parse_args(["watch", "--int8"]).int8 is True
