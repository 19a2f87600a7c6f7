"""`llmos-tui batch --ray`: the same workers as Ray actors, on a local Ray instance started here.

The same 50-goal batch run by local worker processes and by Ray actors ends the same: every
goal's status, steps and files. Without a shared filesystem (forced), goal folders travel to
the actors and back as tar files, and end the same too.
"""

from __future__ import annotations

import os

import pytest
from test_batch import batch, files_of, goal_folders, the_run, write_goals

if os.environ.get("CI") == "true":
    import ray  # the `ray` extra is part of .[test]: on CI this test runs, never skips
else:
    ray = pytest.importorskip("ray")


@pytest.fixture
def seeded(project):
    (project / "workspace" / "shared.txt").write_text("from the project\n")
    return project


@pytest.fixture(scope="module")
def local_ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # (tests never reach the network)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def outcome(out):
    result = {}
    for i, folder in goal_folders(out).items():
        led = the_run(folder)
        result[i] = (led.status, [(s.tool, s.status) for s in led.steps], files_of(folder / "workspace"))
    return result


def test_the_same_batch_on_ray_matches_the_local_one(seeded, tmp_path, local_ray):
    goals = write_goals(seeded, 50)
    local = batch(seeded, goals, tmp_path / "local", parallel=4)
    on_ray = batch(seeded, goals, tmp_path / "ray", parallel=4, ray="auto")
    assert (local.exit_code, on_ray.exit_code) == (0, 0), (local.counts, on_ray.counts)
    assert on_ray.counts == local.counts and on_ray.counts["done"] == 50
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "local")


def test_ray_without_a_shared_filesystem_ships_goal_folders_as_tar(seeded, tmp_path, local_ray):
    goals = write_goals(seeded, 10)
    assert batch(seeded, goals, tmp_path / "local", parallel=2).exit_code == 0
    shipped = batch(seeded, goals, tmp_path / "ray", parallel=2, ray="auto", ray_shared_fs=False)
    assert (shipped.exit_code, shipped.counts["done"]) == (0, 10), shipped.counts
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "local")
    # each goal's folder came back whole: its run can be looked at and exported like any other
    for folder in goal_folders(tmp_path / "ray").values():
        assert (folder / "system" / "memory_log.md").exists() and (folder / "workspace" / "execution_state.md").exists()
