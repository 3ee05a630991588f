"""A failed save of the vector index (disk full, I/O error) is reported and leaves the last
good index file, and the catalog's record of it, as they were; the next save succeeds."""

from __future__ import annotations

import numpy as np
import pytest

import tinyclip
from clipdesk.core import models
from clipdesk.core.errors import LibraryError
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.vectors import index_path


@pytest.mark.allow_log("clipdesk.core.library", "could not save the vector index")
def test_failed_index_save_keeps_the_previous_file(tmp_path, random_model):
    encoder = models.load(models.ModelSpec.parse(random_model), device="cpu")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(4)
    for i, (color, shape) in enumerate(tinyclip.CLASSES[:6]):
        tinyclip.draw_shape(color, shape, rng, 160).save(photos / f"{i}.png")
    lib = Library(tmp_path / "lib")
    indexer = Indexer(lib, encoder, on_progress=lambda *_: None)
    indexer.run([photos])
    path = index_path(lib.folder, encoder.spec.slug)
    saved, record = path.read_bytes(), lib.model_row(encoder.spec)

    for i, (color, shape) in enumerate(tinyclip.CLASSES[6:9]):
        tinyclip.draw_shape(color, shape, rng, 160).save(photos / f"new-{i}.png")
    blocker = path.with_name(path.name + ".tmp")
    blocker.mkdir()  # where the new file would be written: the write fails
    with pytest.raises(LibraryError, match="could not save the vector index"):
        indexer.run()
    assert path.read_bytes() == saved
    assert lib.model_row(encoder.spec) == record
    assert lib.catalog.indexed_count(record) == 9  # the catalog, the truth, has the new ones

    blocker.rmdir()
    indexer.save()
    lib.close()
    reopened = Library(tmp_path / "lib")
    assert len(reopened.vectors(reopened.model_row(encoder.spec))) == 9
    assert reopened.model_row(encoder.spec).index_version == reopened.catalog.version
