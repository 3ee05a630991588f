"""A video leaves the app's index whole: Move to Trash and removing a folder without a model
take its frame keys with it (a video is in the index by its frames, catalog.frame_key), not
only its file id, so no stale frame holds a place in a search's top results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from trashhelpers import real_trash  # noqa: F401  (fixture)

import tinyclip
import videofiles
from clipdesk.core import models
from clipdesk.core.catalog import frame_key
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.ui.librarywriter import remove_root_job, trash_job
from clipdesk.ui.trash import TrashRequest
from videofiles import Scene


def indexed(tmp_path: Path, trained_model: str):
    photos = tmp_path / "photos"
    video = videofiles.write(photos / "clip.mp4", [Scene("red-circle", 2.0),
                                                   Scene("blue-square", 2.0)], seed=1)
    tinyclip.draw_shape("green", "triangle", np.random.default_rng(0),
                        size=(160, 120)).save(photos / "photo.jpg")
    library = Library(tmp_path / "library")
    encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
    report = Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    assert report.embedded == 2 and not report.failed
    model = library.model_row(encoder.spec)
    row = library.catalog.file_by_path(str(video))
    index = library.vectors(model)
    frames = [frame_key(row.id, n) for n in range(len(library.catalog.frame_times(model,
                                                                                   row.hash)))]
    assert len(frames) >= 2 and all(k in index for k in frames)
    return library, model, photos, video, frames


def test_move_to_trash_takes_a_videos_frames_out_of_the_index(qapp, tmp_path, trained_model,
                                                              real_trash):  # noqa: F811
    library, model, photos, video, frames = indexed(tmp_path, trained_model)
    stat = video.stat()
    done = trash_job(None, library, [TrashRequest(str(video), stat.st_size, stat.st_mtime)],
                     [model], None)
    assert [p for p, _ in done.result.moved] == [str(video)] and done.not_forgotten is None
    index = library.vectors(model)
    assert not any(k in index for k in frames) and len(index) == 1  # the photo alone
    library.close()


def test_removing_a_folder_without_a_model_takes_a_videos_frames_out(tmp_path, trained_model):
    library, model, photos, video, frames = indexed(tmp_path, trained_model)
    index = library.vectors(model)
    remove_root_job(None, library, photos, None, index)
    assert len(index) == 0 and not any(k in index for k in frames)
    library.close()
