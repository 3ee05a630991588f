"""Tags: the built-in vocabulary, the user's labels, label embeddings cached in the catalog,
and ranking labels for a photo (with the trained tiny CLIP, which knows coloured shapes)."""

from __future__ import annotations

import numpy as np
import pytest
from modulepaths import module_paths

import tinyclip
from clipdesk.core import models, tags
from clipdesk.core.catalog import Catalog

CLASS_LABELS = [f"{color} {shape}" for color, shape in tinyclip.CLASSES]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory, onnx_cache, trained_model):
    base = tmp_path_factory.mktemp("tags")
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        enc = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        enc.encode_texts(["warm up"])
        enc.encode_pil([tinyclip.draw_shape("red", "circle", np.random.default_rng(0))])
    return enc


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "lib")
    yield c
    c.close()


class Factory:
    """What label_vectors takes: a callable returning the encoder; counts its calls."""

    def __init__(self, encoder):
        self.encoder, self.calls = encoder, 0

    def __call__(self):
        self.calls += 1
        return self.encoder


def test_the_vocabulary_is_non_empty_unique_and_clean():
    words = tags.vocabulary()
    assert len(words) > 100
    assert len({w.casefold() for w in words}) == len(words)
    assert all(w == w.strip() and w for w in words)


def test_the_label_set_is_the_sorted_union_of_vocabulary_and_user_labels(catalog):
    vocabulary = tags.vocabulary()
    assert tags.label_set(catalog) == sorted(vocabulary)
    catalog.add_labels(["my dog rex", vocabulary[0], "aunt may's garden"])
    labels = tags.label_set(catalog)
    assert labels == sorted(set(vocabulary) | {"my dog rex", "aunt may's garden"})
    assert len(labels) == len(set(labels)) == len(vocabulary) + 2
    catalog.remove_labels(["my dog rex"])
    assert "my dog rex" not in tags.label_set(catalog)


def test_label_vectors_are_prompt_embeddings_cached_in_the_catalog(tmp_path, catalog, encoder):
    model = catalog.model(encoder.spec.identity, dim=encoder.dim)
    labels = ["red circle", "blue square", "my dog rex"]
    factory = Factory(encoder)
    calls = encoder.text_calls
    first = tags.label_vectors(catalog, model, factory, labels)
    assert factory.calls == 1
    assert encoder.text_calls == calls + len(labels) * len(tags.TEMPLATES)
    assert first.shape == (3, encoder.dim) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-3)
    prompts = [t.format("blue square") for t in tags.TEMPLATES]
    direct = encoder.encode_texts(prompts).mean(axis=0)
    np.testing.assert_allclose(first[1], direct / np.linalg.norm(direct), atol=2e-3)
    assert set(catalog.cached_texts(model, [f"label:{x}" for x in labels])) == {
        f"label:{x}" for x in labels}

    calls = encoder.text_calls
    again = tags.label_vectors(catalog, model, factory, list(reversed(labels)))
    assert (factory.calls, encoder.text_calls) == (1, calls)  # the encoder was not even made
    np.testing.assert_allclose(again, first[::-1], atol=2e-3)

    reopened = Catalog(tmp_path / "lib")  # the cache is in the catalog, not in memory
    assert tags.label_vectors(reopened, reopened.model(model.spec), factory, labels).shape == (3, encoder.dim)
    assert (factory.calls, encoder.text_calls) == (1, calls)
    reopened.close()

    tags.label_vectors(catalog, model, factory, [*labels, "green triangle"])  # one new label
    assert (factory.calls, encoder.text_calls) == (2, calls + len(tags.TEMPLATES))

    other = catalog.model("hf-hub:tests/another-model", dim=encoder.dim)  # cached per model
    tags.label_vectors(catalog, other, factory, labels)
    assert (factory.calls, encoder.text_calls) == (3, calls + 4 * len(tags.TEMPLATES))


def test_the_whole_label_set_is_embedded_in_one_pass_then_cached(catalog, encoder):
    model = catalog.model(encoder.spec.identity, dim=encoder.dim)
    catalog.add_labels(CLASS_LABELS)
    labels = tags.label_set(catalog)
    factory = Factory(encoder)
    calls = encoder.text_calls
    vectors = tags.label_vectors(catalog, model, factory, labels)
    assert vectors.shape == (len(labels), encoder.dim)
    assert factory.calls == 1 and encoder.text_calls == calls + len(labels) * len(tags.TEMPLATES)
    assert len(catalog.cached_texts(model, [f"label:{x}" for x in labels])) == len(labels)
    tags.label_vectors(catalog, model, factory, labels)
    assert factory.calls == 1 and encoder.text_calls == calls + len(labels) * len(tags.TEMPLATES)


def test_rank_gives_n_labels_best_first_with_shares_of_at_most_one(catalog, encoder):
    model = catalog.model(encoder.spec.identity, dim=encoder.dim)
    labels = tags.label_set(catalog)
    vectors = tags.label_vectors(catalog, model, Factory(encoder), labels)
    image = encoder.encode_pil([tinyclip.draw_shape("green", "square",
                                                    np.random.default_rng(3), 200)])[0]
    ranked = tags.rank(image, labels, vectors, n=7)
    assert len(ranked) == 7 and len({label for label, _ in ranked}) == 7
    shares = [share for _, share in ranked]
    assert all(0.0 <= s <= 1.0 for s in shares) and sum(shares) <= 1.0 + 1e-6
    assert shares == sorted(shares, reverse=True)
    scores = vectors @ image
    assert [label for label, _ in ranked] == [labels[i] for i in np.argsort(-scores)[:7]]
    everything = tags.rank(image, labels, vectors, n=len(labels) + 5)
    assert len(everything) == len(labels)
    assert sum(s for _, s in everything) == pytest.approx(1.0, abs=1e-5)


def test_the_trained_model_names_the_colour_and_shape_first(catalog, encoder):
    model = catalog.model(encoder.spec.identity, dim=encoder.dim)
    catalog.add_labels(CLASS_LABELS)
    labels = tags.label_set(catalog)  # the user's labels among the whole vocabulary
    vectors = tags.label_vectors(catalog, model, Factory(encoder), labels)
    rng = np.random.default_rng(11)
    images = [tinyclip.draw_shape(c, s, rng, size=(260, 200)) for c, s in tinyclip.CLASSES]
    for (color, shape), vector in zip(tinyclip.CLASSES, encoder.encode_pil(images), strict=True):
        (best, share), *_ = tags.rank(vector, labels, vectors, n=3)
        assert best == f"{color} {shape}", (color, shape, tags.rank(vector, labels, vectors, 3))
        assert share > 0.5
