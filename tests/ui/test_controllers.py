"""The engine's controllers on their own, without the window: the search controller's
generations and its pending query, the model's state machine, the library writer's pause and
resume, the status job. Real library, real tiny models, each controller on its own pool."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication
from test_library import make_photos
from uihelpers import photo_class

from clipdesk.core import models
from clipdesk.core.library import Library
from clipdesk.core.models import ModelSpec
from clipdesk.core.query import Query
from clipdesk.core.status import LibraryStatus
from clipdesk.ui.answers import ModelState
from clipdesk.ui.librarywriter import LibraryWriter
from clipdesk.ui.modelcontrol import ModelController
from clipdesk.ui.searchcontrol import SearchController
from clipdesk.ui.settings import Settings
from clipdesk.ui.statuscontrol import StatusController, status_job
from clipdesk.ui.workers import Pool


@pytest.fixture
def pools():
    """``pools(name, threads=1)``: a pool, drained at the end of the test."""
    made: list[Pool] = []

    def make(name: str, threads: int = 1) -> Pool:
        made.append(Pool(name, threads))
        return made[-1]

    yield make
    for pool in made:
        pool.cancel_all()
        pool.wait(60_000)


def drain(pool: Pool) -> None:
    """Until the pool's jobs are done and what they reported has been delivered."""
    pool.wait(60_000)
    QCoreApplication.processEvents()


# ==================================================================== searching


def test_an_older_answer_is_dropped_and_only_the_newest_queued_query_runs(qtbot, shapes, pools):
    library, encoder, row = shapes
    control = SearchController(pools("search"), Settings())
    control.use(library, row, encoder)
    ran: list[str] = []
    start = control.pool.start

    def recording_start(worker, priority=0):
        ran.append(worker.args[1].text)
        return start(worker, priority)

    control.pool.start = recording_start
    answers = []
    control.answered.connect(answers.append)
    first, typed_over, last = (Query(f"a photo of a {what}")
                               for what in ("red circle", "blue square", "green triangle"))
    with qtbot.waitSignal(control.answered, timeout=30_000):
        control.search(first)  # runs
        control.search(typed_over)  # waits its turn...
        newest = control.search(last)  # ...and is replaced by the newest
    drain(control.pool)
    assert ran == [first.text, last.text]
    assert [a.query for a in answers] == [last]  # the first one's answer came, and was dropped
    assert answers[0].generation == newest == control.gens.current("search")
    assert photo_class(answers[0].results.paths[0]) == "green-triangle"


def test_a_query_asked_before_the_model_is_ready_is_answered_once_it_is(qtbot, shapes, pools):
    library, encoder, row = shapes
    control = SearchController(pools("search"), Settings(),
                               waiting_reason=lambda: "the model is loading")
    waiting: list[str] = []
    control.waiting.connect(waiting.append)
    answers = []
    control.answered.connect(answers.append)
    query = Query("a photo of a yellow square")

    control.search(query)  # the library is not even open
    assert waiting == ["the model is loading"]
    control.use(library, row)  # open, the model not loaded: the text tower is missing
    with qtbot.waitSignal(control.waiting, timeout=30_000):
        control.run_pending()
    assert waiting == ["the model is loading"] * 2 and not answers

    with qtbot.waitSignal(control.answered, timeout=30_000) as answered:
        control.model_ready(library, row, encoder, complete=True)
        control.run_pending()
    assert answered.args[0].query == query
    assert photo_class(answered.args[0].results.paths[0]) == "yellow-square"
    drain(control.pool)
    control.run_pending()  # answered: nothing is pending any more
    assert control.pool.running() == [] and len(answers) == 1


def test_tags_fill_the_label_cache_on_the_gui_thread(qtbot, shapes, pools, shapes_folder):
    library, encoder, row = shapes
    control = SearchController(pools("search"), Settings())
    control.use(library, row, encoder)
    photo = str(next(shapes_folder.glob("red-circle-*")))
    with qtbot.waitSignal(control.tagsReady, timeout=60_000) as tagged:
        control.tags(photo, n=3)
    path, ranked = tagged.args
    assert path == photo and len(ranked) == 3 and ranked[0][1] >= ranked[1][1]
    labels, vectors = control._label_vectors[row.spec]
    assert len(labels) == len(vectors) > 3
    with qtbot.waitSignal(control.tagsReady, timeout=30_000) as again:
        control.tags(photo, n=3)  # from the cache this time: the same ranking
    assert again.args[1] == ranked
    assert control._label_vectors[row.spec][1] is vectors


# ==================================================================== the model


def test_the_model_loads_then_is_ready_once_its_index_is(qtbot, trained_model, pools):
    control = ModelController(pools("general", 2), Settings(), "cpu")
    states: list[ModelState] = []
    control.stateChanged.connect(lambda state, _message: states.append(state))
    loads = []
    control.loaded.connect(lambda gen, encoder: loads.append(gen))
    control.spec = ModelSpec.parse(trained_model)
    with qtbot.waitSignal(control.loaded, timeout=60_000) as loaded:
        control.load()
        control.load()  # the first load is stale now
    drain(control.pool)
    gen, encoder = loaded.args
    assert loads == [gen] == [2]
    assert control.encoder is encoder and encoder.spec.text == trained_model
    assert states == [ModelState.LOADING, ModelState.LOADING]
    assert control.ready_encoder is None  # loaded, but its index is not prepared yet
    assert not control.ready(1)
    assert control.ready(gen)
    assert control.state is ModelState.READY and control.ready_encoder is encoder
    assert control.message.startswith(f"Model {trained_model} (")


def test_a_model_that_is_not_here_is_missing_and_says_why(qtbot, pools):
    control = ModelController(pools("general", 2), Settings(), "cpu")
    with qtbot.waitSignal(control.unavailable, timeout=30_000) as unavailable:
        control.switch(ModelSpec.parse("hf-hub:nobody/no-such-model"), "cpu")
    assert control.state is ModelState.MISSING
    assert unavailable.args[0] == control.message and control.message


# ==================================================================== the library writer


def test_the_writer_pauses_and_resumes_an_index_run(qtbot, tmp_path, random_model, pools):
    photos = tmp_path / "photos"
    make_photos(photos, 80, size=(800, 600))
    settings = Settings(workers=1)
    writer = LibraryWriter(pools("writer"), tmp_path / "lib", settings)
    try:
        with qtbot.waitSignal(writer.opened, timeout=30_000) as opened:
            writer.open(random_model)
        encoder = models.load(opened.args[0].spec, device="cpu")
        with qtbot.waitSignal(writer.libraryChanged, timeout=30_000):
            writer.index([photos])  # no model yet: the folder is added, the run waits
        with qtbot.waitSignal(writer.indexingProgress, timeout=60_000):
            writer.model_ready(encoder)  # the run that waited for the model
        with qtbot.waitSignal(writer.indexingFinished, timeout=60_000) as finished:
            writer.pause_indexing()
        report = finished.args[0]
        assert report.interrupted and 0 < report.embedded < 80
        assert writer.paused and not writer.indexing
        assert writer.watcher is None  # watching starts after a complete run
        kept = report.embedded

        with qtbot.waitSignal(writer.indexingFinished, timeout=120_000) as finished:
            writer.resume_indexing()
        report = finished.args[0]
        assert not report.interrupted and report.embedded == 80 - kept  # nothing done twice
        assert not writer.paused and not writer.indexing
        assert writer.watcher is not None
    finally:
        writer.close()
        writer.pool.wait(60_000)
        writer.release()


def test_the_writer_refuses_a_model_that_does_not_match_its_index(qtbot, tmp_path,
                                                                  trained_model, pools):
    spec = ModelSpec.parse(trained_model)
    library = Library(tmp_path / "lib")
    library.catalog.model(spec.identity, 7)  # an index of another shape for this model
    library.close()
    writer = LibraryWriter(pools("writer"), tmp_path / "lib", Settings())
    try:
        with qtbot.waitSignal(writer.opened, timeout=30_000):
            writer.open(trained_model)
        encoder = models.load(spec, device="cpu")
        with qtbot.waitSignal(writer.prepareFailed, timeout=30_000) as failed:
            writer.prepare(5, encoder)
        gen, error = failed.args
        assert gen == 5 and "does not match the library's index" in str(error)
    finally:
        writer.close()
        writer.pool.wait(60_000)
        writer.release()


# ==================================================================== status


def test_the_status_job_reports_from_its_inputs_and_only_the_newest_is_shown(
        qtbot, library_copy, trained_model, shapes_folder, pools):
    library = Library(library_copy)
    try:
        spec = ModelSpec.parse(trained_model)
        root = str(shapes_folder.resolve())
        status = status_job(None, library, spec, "another program updates it", {root: "live"})
        assert isinstance(status, LibraryStatus)
        assert status.model == trained_model and status.indexed == 24 and status.pending == 0
        assert status.busy == "another program updates it"
        assert [(r.path, r.watching) for r in status.roots] == [(root, "live")]
        assert status_job(None, library, None, None, {}).model == trained_model  # the library's

        control = StatusController(pools("general", 2))
        shown: list[LibraryStatus] = []
        control.statusReady.connect(shown.append)
        with qtbot.waitSignal(control.statusReady, timeout=30_000,
                              check_params_cb=lambda s: s.busy == "second"):
            control.refresh(library, spec, "first", {})
            control.refresh(library, spec, "second", {})
        drain(control.pool)
        assert [s.busy for s in shown] == ["second"]

        photo = str(next(shapes_folder.glob("*.jpg")))
        with qtbot.waitSignal(control.infoReady, timeout=30_000) as info:
            control.photo_info(library, photo)
        assert info.args[0].path == photo and info.args[0].indexed
        assert info.args[0].width and info.args[0].size
    finally:
        library.close()


def test_the_engine_still_exports_the_shared_types():
    from clipdesk.ui import answers, engine

    for name in ("ModelState", "ModelNotReady", "ResultSet", "SearchAnswer", "PhotoInfo"):
        assert getattr(engine, name) is getattr(answers, name)
