"""The command line as a user calls it: exit codes, messages, status, models, selftest."""

from __future__ import annotations

import sqlite3

import numpy as np

import oldlibrary
import tinyclip
from usercli import run_cli


def make_folder(path, n=3):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        tinyclip.draw_shape("red", "circle", rng, 200).save(path / f"{i}.jpg")
    return path


def test_help_lists_the_commands(cli):
    res = cli("--help")
    assert res.code == 0
    assert all(c in res.out for c in ("index", "search", "similar", "tags", "status", "watch"))


def test_missing_folder_is_a_one_line_error(cli, tmp_path, random_model):
    res = cli("index", tmp_path / "nope", "--model", random_model)
    assert res.code == 2
    assert res.err.strip() == f"clipdesk: error: not a folder: {tmp_path / 'nope'}"


def test_unknown_models_are_one_line_errors(cli, tmp_path):
    folder = make_folder(tmp_path / "photos")
    for spec, words in [("nonsense", "bad model spec"),
                        ("ViT-B-32:no_such_tag", "unknown pretrained tag"),
                        ("NoSuchNet:foo", "unknown model architecture"),
                        (f"local-dir:{tmp_path / 'missing'}", "model folder not found")]:
        res = cli("index", folder, "--model", spec)
        assert res.code == 2, spec
        errors = [line for line in res.err.splitlines() if line.startswith("clipdesk: error: ")]
        assert len(errors) == 1 and words in errors[0], res.err
        assert "Traceback" not in res.err


def test_offline_without_cached_weights_says_what_to_do(tmp_path):
    folder = make_folder(tmp_path / "photos")
    res = run_cli("index", str(folder), "--model", "ViT-B-32:laion2b_s34b_b79k",
                  env={"HF_ENDPOINT": "http://127.0.0.1:9"}, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "Connect to the internet once" in res.stderr and "local-dir:" in res.stderr


def test_unreadable_and_newer_libraries_are_refused_intact(cli, tmp_path, random_model):
    bad = tmp_path / "bad-lib"
    bad.mkdir()
    (bad / "catalog.sqlite3").write_bytes(b"this is not sqlite" * 100)
    res = cli("status", "--library", bad)
    assert res.code == 2 and "cannot open the library catalog" in res.err
    assert (bad / "catalog.sqlite3").read_bytes() == b"this is not sqlite" * 100

    newer = tmp_path / "newer-lib"
    assert cli("index", make_folder(tmp_path / "p"), "--library", newer,
               "--model", random_model).code == 0
    with sqlite3.connect(newer / "catalog.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    before = (newer / "catalog.sqlite3").read_bytes()
    for args in (["status"], ["search", "x"], ["index"]):
        res = cli(*args, "--library", newer, "--model", random_model)
        assert res.code == 2 and "newer ClipDesk" in res.err
    assert (newer / "catalog.sqlite3").read_bytes() == before


def test_an_older_library_is_upgraded_once_saying_so_and_answers_the_same(cli, tmp_path,
                                                                           random_model):
    folder, library = make_folder(tmp_path / "photos"), tmp_path / "lib"
    assert cli("index", folder, "--library", library, "--model", random_model).code == 0
    before = cli("search", "a red circle", "--library", library, "--json")
    assert before.code == 0 and "Upgrading" not in before.err
    oldlibrary.take_back(library, 3)  # as the previous version left it
    res = cli("search", "a red circle", "--library", library, "--json")
    assert res.code == 0 and res.out == before.out
    assert res.err.startswith(f"Upgrading the library at {library} for this version")
    again = cli("status", "--library", library)
    assert again.code == 0 and "Upgrading" not in again.err  # once


def test_status_counts_and_failures(cli, tmp_path, random_model):
    folder = make_folder(tmp_path / "photos", 3)
    (folder / "broken.png").write_text("nope")
    res = cli("index", folder, "--model", random_model)
    assert res.code == 0
    assert "3 embedded" in res.out and "1 failed" in res.out
    st = cli("status", "--json").json()
    assert (st["indexed"], st["pending"]) == (3, 0)
    assert st["failed"] == [{"path": str(folder / "broken.png"),
                             "reason": "not an image, or a format ClipDesk cannot read"}]
    text = cli("status").out
    assert "3 indexed, 0 pending, 1 failed" in text and "broken.png" in text


def test_status_does_not_load_torch(tmp_path):
    res = run_cli("status", "--json")
    assert res.returncode == 0
    code = ("import sys; from clipdesk.cli import main; main(['status']); "
            "assert 'torch' not in sys.modules, 'status imported torch'")
    import subprocess
    import sys
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_search_before_indexing_explains(cli, random_model):
    res = cli("search", "a cat", "--model", random_model)
    assert res.code == 2 and "clipdesk index" in res.err


def test_models_lists_known_specs_and_cache_state(cli):
    res = cli("models")
    assert res.code == 0
    default = next(line for line in res.out.splitlines() if line.startswith("* "))
    # the default comes as ONNX (Immich's export); nothing is downloaded in a fresh home
    assert default.split()[1:4] == ["ViT-B-32:laion2b_s34b_b79k", "onnx", "not"]


def test_selftest_passes_with_a_local_model(random_model):
    res = run_cli("selftest", "--model", random_model)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "selftest passed" in res.stdout


def test_selftest_fails_cleanly_without_a_model(tmp_path):
    res = run_cli("selftest", "--model", f"local-dir:{tmp_path / 'none'}")
    assert res.returncode == 1 and "FAIL" in res.stdout and "Traceback" not in res.stderr


def test_dates_filter_by_exif_else_mtime(cli, tmp_path, random_model):
    import os
    from datetime import datetime

    folder = make_folder(tmp_path / "photos", 3)
    for i, year in enumerate([2019, 2021, 2023]):
        stamp = datetime(year, 6, 1, 12).timestamp()
        os.utime(folder / f"{i}.jpg", (stamp, stamp))
    assert cli("index", folder, "--model", random_model).code == 0
    hits = cli("search", "x", "--after", "2020-01-01", "--before", "2022-12-31", "--json").json()
    assert [h["path"] for h in hits] == [str(folder / "1.jpg")]
    res = cli("search", "x", "--after", "last tuesday")
    assert res.code == 2


def test_basedir_moves_the_library_and_the_logs_before_or_after_the_command(cli, tmp_path,
                                                                            isolated_paths,
                                                                            random_model):
    folder = make_folder(tmp_path / "photos", 2)
    base = tmp_path / "portable"
    res = cli("--basedir", base, "index", folder, "--model", random_model)
    assert res.code == 0, res.err
    assert (base / "data" / "catalog.sqlite3").is_file()
    assert "2 embedded" in res.out and (base / "logs" / "clipdesk.log").stat().st_size > 0
    assert cli("status", "--basedir", base, "--json").json()["indexed"] == 2
    assert not (isolated_paths / "data").exists()  # CLIPDESK_HOME's library is untouched
    res = cli("status")  # the next command without --basedir: CLIPDESK_HOME again
    assert res.code == 0 and f"Library: {isolated_paths / 'data'}" in res.out
    assert "0 indexed" in res.out
