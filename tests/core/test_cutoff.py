"""The adaptive cut-off: on the trained tiny CLIP it keeps a caption's photos and drops most of
the rest, for text, negatives and "like this" queries alike; it follows the scores' scale;
degenerate inputs show everything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from modulepaths import module_paths

import tinyclip
from clipdesk.core import models
from clipdesk.core.cutoff import MIN_WINDOW, adaptive_cutoff
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.search import Searcher

PER_CLASS = 8


def kind(path: str) -> str:
    """'red-circle' for .../red-circle-3.jpg."""
    return Path(path).stem.rsplit("-", 1)[0]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, onnx_cache, trained_model):
    """(searcher, {file id: class}, stored vectors by id): 8 photos of each of the 12 classes
    indexed with the trained tiny CLIP, plus a folder of outside photos to query with."""
    base = tmp_path_factory.mktemp("cutoff").resolve()
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        encoder.encode_texts(["warm up"])  # sessions load now, under the patched cache
        rng = np.random.default_rng(3)
        for color, shape in tinyclip.CLASSES:
            for i in range(PER_CLASS):
                (base / "photos").mkdir(exist_ok=True)
                tinyclip.draw_shape(color, shape, rng, size=(320, 240)).save(
                    base / "photos" / f"{color}-{shape}-{i}.jpg", quality=90)
            (base / "outside").mkdir(exist_ok=True)
            tinyclip.draw_shape(color, shape, rng, size=(300, 260)).save(
                base / "outside" / f"{color}-{shape}-0.png")
        library = Library(base / "lib")
        Indexer(library, encoder, on_progress=lambda *_: None).run([base / "photos"])
        row = library.model_row(encoder.spec)
        keys, vectors = library.catalog.indexed_vectors(row)
        classes = [kind(f.path) for f in library.catalog.files_by_ids(
            [int(k) for k in keys]).values()]
        searcher = Searcher(library, row, lambda: encoder)
        yield searcher, np.array(classes), vectors, base / "outside"
    library.close()


def kept_and_dropped(scores: np.ndarray, relevant: np.ndarray) -> tuple[float, float]:
    """(share of the relevant photos kept, share of the others dropped)."""
    cut = adaptive_cutoff(scores)
    assert cut is not None
    kept = scores >= cut
    return kept[relevant].mean(), 1 - kept[~relevant].mean()


@pytest.mark.parametrize("color,shape", tinyclip.CLASSES)
def test_a_caption_keeps_its_photos_and_drops_most_of_the_rest(shapes, color, shape):
    searcher, classes, vectors, _ = shapes
    assert len(classes) == PER_CLASS * len(tinyclip.CLASSES)
    scores = vectors @ searcher.query_vector([tinyclip.caption(color, shape)])
    kept, dropped = kept_and_dropped(scores, classes == f"{color}-{shape}")
    assert kept >= 7 / 8 and dropped >= 0.95, (kept, dropped)


def test_negatives_and_like_images_shift_the_scale_and_it_follows(shapes):
    """Negatives lower every score, an image query raises them: the cut-off moves with them,
    keeps the class and drops most of the rest."""
    searcher, classes, vectors, outside = shapes
    cuts = {}
    for color, shape in [("red", "circle"), ("blue", "square"), ("yellow", "triangle")]:
        wanted = classes == f"{color}-{shape}"
        other = "green" if color != "green" else "red"
        for name, vector in [
            ("text", searcher.query_vector([tinyclip.caption(color, shape)])),
            ("negative", searcher.query_vector([tinyclip.caption(color, shape)],
                                               negatives=[tinyclip.caption(other, shape)])),
            ("image", searcher.query_vector(images=[outside / f"{color}-{shape}-0.png"])),
        ]:
            scores = vectors @ vector
            kept, dropped = kept_and_dropped(scores, wanted)
            # a negative lifts partial matches (the negative's colour sinks, the rest rise)
            least = 0.75 if name == "negative" else 0.95
            assert kept >= 7 / 8 and dropped >= least, (color, shape, name, kept, dropped)
            cuts.setdefault(name, []).append(adaptive_cutoff(scores))
    assert max(cuts["negative"]) < min(cuts["image"])  # no one flat score fits both


def two_groups(n: int, matches: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores shaped like a real CLIP text query: a body of non-matches around 0.18 and a
    group of matches around 0.30 (first ``matches`` entries)."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.18, 0.03, n).astype(np.float32)
    scores[:matches] = rng.normal(0.30, 0.015, matches)
    relevant = np.zeros(n, dtype=bool)
    relevant[:matches] = True
    return scores, relevant


@pytest.mark.parametrize("n,matches", [(200, 10), (5_000, 50), (100_000, 1_000),
                                       (100_000, 20_000)])
def test_a_group_of_matches_of_any_size_is_found(n, matches):
    scores, relevant = two_groups(n, matches)
    kept, dropped = kept_and_dropped(scores, relevant)
    assert kept >= 0.8 and dropped >= 0.99, (kept, dropped)


def test_the_cut_off_follows_the_scale_and_ignores_order_and_nans():
    scores, _ = two_groups(3_000, 40, seed=1)
    cut = adaptive_cutoff(scores)
    assert adaptive_cutoff(2.5 * scores - 0.7) == pytest.approx(2.5 * cut - 0.7, abs=1e-4)
    shuffled = np.random.default_rng(2).permutation(scores)
    assert adaptive_cutoff(shuffled) == cut
    assert adaptive_cutoff(np.concatenate([scores, [np.nan, np.inf, -np.inf]])) == cut
    assert adaptive_cutoff(list(scores.astype(np.float64))) == pytest.approx(cut)


def test_with_nothing_that_matches_only_the_best_few_pass():
    scores, _ = two_groups(50_000, 0, seed=4)
    kept = (scores >= adaptive_cutoff(scores)).sum()
    assert 1 <= kept <= 100


@pytest.mark.parametrize("scores", [
    [], [0.3], [0.3, 0.2], np.full(1000, 0.25), np.linspace(0, 1, 2 * MIN_WINDOW - 1),
    [np.nan] * 100, np.r_[np.full(600, 0.4), np.linspace(0, 0.3, 400)],  # best half all tied
])
def test_degenerate_scores_show_everything(scores):
    assert adaptive_cutoff(np.asarray(scores, dtype=np.float32)) is None


def test_the_best_score_always_passes():
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(2 * MIN_WINDOW, 3_000))
        scores = rng.choice([rng.normal(0, 1, n), rng.exponential(1, n), rng.uniform(-1, 1, n),
                             np.round(rng.normal(0, 1, n), 1)])
        cut = adaptive_cutoff(scores)
        assert cut is None or cut <= scores.max()
        assert cut is None or cut > np.median(scores)  # never the lower half
