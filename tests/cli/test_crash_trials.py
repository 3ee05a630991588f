"""A short run of benchmarks/crash_trials.py: `clipdesk index` and `clipdesk watch` killed with
SIGKILL at random moments; after each kill the library keeps every promise (see the script)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import crash_trials  # noqa: E402


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    lines: list[str] = []
    trials = crash_trials.run_trials(4, seed=7, workdir=tmp_path, photos_n=40,
                                     report=lines.append)
    assert [t.command for t in trials] == ["index", "watch", "index", "watch"]
    assert all(t.survived for t in trials), "\n".join(lines)
    assert any(t.left_at_kill for t in trials), "no kill landed while work was left"
