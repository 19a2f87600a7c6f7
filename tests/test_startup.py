"""Start-up: a headless run opens with the garbage collector paused and, in a process of its own,
frozen once open (importing the anthropic SDK makes ~170,000 long-lived objects); a missing or
broken SDK is one line before the run exists; commands that need no SDK never import it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli, runs_in
from fakeapi import FakeAnthropic, message, text, tool_use

# The real command line in a child process, with session.start_run / resume_run and
# drive_headless wrapped to note the collector's state and the SDK as the run opens and once it
# is open; the notes go to $SPY_OUT as they are made (a run on Claude leaves with os._exit).
# SPY_ARGV=1: main() is given its arguments, as a caller in the same process would.
SPY = r"""
import gc, json, os, sys
import llmos_tui.cli.run_commands as run_commands
import llmos_tui.core.session as session

seen = {}

def note(key, **what):
    seen[key] = what
    with open(os.environ["SPY_OUT"], "w") as fh:
        json.dump(seen, fh)

def watch(owner, name, key):
    real = getattr(owner, name)

    def spy(*a, **k):
        note(key, gc_enabled=gc.isenabled(), frozen=gc.get_freeze_count(), anthropic="anthropic" in sys.modules)
        return real(*a, **k)

    setattr(owner, name, spy)

watch(session, "start_run", "opening")
watch(session, "resume_run", "opening")
watch(run_commands, "drive_headless", "open")
if os.environ.get("SPY_TUI"):  # the TUI is made, and not run: what the process holds as it would start
    import llmos_tui.tui.app as tui_app

    def run(self, *a, **k):
        note("tui", gc_enabled=gc.isenabled(), frozen=gc.get_freeze_count(), anthropic="anthropic" in sys.modules)

    tui_app.LlmosApp.run = run
from llmos_tui.cli import main

if os.environ.get("SPY_ARGV"):
    code = main(sys.argv[1:])
else:
    sys.argv[0] = "llmos-tui"
    code = main()
note("end", code=code, gc_enabled=gc.isenabled(), frozen=gc.get_freeze_count(), anthropic="anthropic" in sys.modules)
"""


def spied(project: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    out = tmp_path / f"spy-{len(list(tmp_path.glob('spy-*')))}.json"
    full = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
    full.update(env or {}, SPY_OUT=str(out))
    proc = subprocess.run(
        [sys.executable, "-c", SPY, *args], cwd=project, env=full, capture_output=True, text=True, timeout=60
    )
    assert out.exists(), (proc.returncode, proc.stdout, proc.stderr)
    seen = json.loads(out.read_text())
    seen["rc"], seen["stdout"], seen["stderr"] = proc.returncode, proc.stdout, proc.stderr
    return seen


def fake_env(api: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": api.base_url}


def one_glob_then_done(rec) -> object:
    turn = sum(1 for m in rec.body.get("messages") or [] if m.get("role") == "assistant")
    return message(tool_use("Glob", {"pattern": "*.txt"})) if turn == 0 else message(text("Done."))


def pause_on_budget(project: Path, api: FakeAnthropic) -> str:
    """A run on Claude paused by its budget after one turn (exit 3); its id."""
    cli(
        "run", "--headless", "--approve", "never", "--max-cost", "0.0000001", "--no-wait", "Look",
        cwd=project, env=fake_env(api), check_rc=3,
    )  # fmt: skip
    (run,) = runs_in(project)
    return run.name


def test_a_headless_run_on_claude_opens_with_the_collector_paused_then_frozen(project, tmp_path):
    with FakeAnthropic(default=one_glob_then_done) as api:
        seen = spied(project, tmp_path, "run", "--headless", "--approve", "never", "-q", "Look", env=fake_env(api))
    assert seen["rc"] == 0, seen
    assert seen["opening"] == {"gc_enabled": False, "frozen": 0, "anthropic": False}
    # open: the SDK is imported, what opening made is frozen, and the collector runs again
    opened = seen["open"]
    assert opened["gc_enabled"] and opened["anthropic"] and opened["frozen"] > 10_000, opened
    assert "end" not in seen  # (it left with os._exit once all was closed)


def test_resume_opens_the_same_way(project, tmp_path):
    with FakeAnthropic(default=one_glob_then_done) as api:
        run_id = pause_on_budget(project, api)
        seen = spied(
            project, tmp_path, "resume", run_id, "--headless", "--max-cost", "5", "--no-wait", "-q", env=fake_env(api)
        )
    assert seen["rc"] == 0, seen
    assert seen["opening"]["gc_enabled"] is False
    assert seen["open"]["gc_enabled"] and seen["open"]["frozen"] > 10_000, seen["open"]


def test_main_called_with_arguments_leaves_the_callers_collector_as_it_was(project, tmp_path):
    with FakeAnthropic(default=one_glob_then_done) as api:
        seen = spied(
            project,
            tmp_path,
            "run",
            "--headless",
            "--approve",
            "never",
            "-q",
            "Look",
            env={**fake_env(api), "SPY_ARGV": "1"},
        )
    assert seen["end"] == {"code": 0, "gc_enabled": True, "frozen": 0, "anthropic": True}, seen
    assert seen["opening"]["gc_enabled"] is False  # paused while it opened, all the same


def test_the_tui_starts_with_its_imports_frozen_and_the_collector_on(project, tmp_path):
    seen = spied(project, tmp_path, env={"SPY_TUI": "1"})  # bare `llmos-tui`
    assert seen["end"]["code"] == 0, seen
    tui = seen["tui"]
    assert tui["gc_enabled"] and tui["frozen"] > 10_000 and not tui["anthropic"], tui


def test_a_scripted_run_never_imports_the_sdk(project, tmp_path):
    script = project / "s.yaml"
    script.write_text("turns:\n- {content: [{type: text, text: done}]}\n")
    seen = spied(project, tmp_path, "run", "--headless", "--script", str(script), "-q", "Say done")
    assert seen["rc"] == 0, seen
    assert not seen["open"]["anthropic"] and not seen["end"]["anthropic"]


@pytest.fixture
def no_sdk(tmp_path: Path):
    """An `anthropic` that fails to import, first on the path: `missing` (ImportError) or `broken`."""

    def make(kind: str) -> dict[str, str]:
        shadow = tmp_path / f"shadow-{kind}"
        shadow.mkdir()
        body = (
            "raise ImportError(\"No module named 'anthropic'\", name='anthropic')\n"
            if kind == "missing"
            else "import json\nraise RuntimeError('half-installed: _client.py is empty')\n"
        )
        (shadow / "anthropic.py").write_text(body)
        return {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}

    return make


@pytest.mark.parametrize("kind", ["missing", "broken"])
def test_a_missing_or_broken_sdk_is_one_line_before_the_run_exists(project, no_sdk, kind):
    env = {**no_sdk(kind), "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    for args in (("run", "--headless", "Say hi"), ("run", "Say hi")):  # headless, and before the TUI
        r = cli(*args, cwd=project, env=env)
        line = r.stderr.strip()
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "\n" not in line and "Traceback" not in line, line
        assert "cannot import the anthropic SDK" in line and "pip install" in line, line
        assert ("No module named 'anthropic'" if kind == "missing" else "half-installed") in line
    assert not runs_in(project)


def test_resume_with_a_missing_sdk_is_one_line_too(project, no_sdk):
    with FakeAnthropic(default=one_glob_then_done) as api:
        run_id = pause_on_budget(project, api)
        r = cli("resume", run_id, "--headless", "--no-wait", cwd=project, env={**fake_env(api), **no_sdk("missing")})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "\n" not in r.stderr.strip() and "cannot import the anthropic SDK" in r.stderr


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["run", "--help"], ["resume", "--help"], ["status", "--help"]]
)
def test_version_and_help_never_import_the_sdk(tmp_path, args):
    code = (
        "import sys\nfrom llmos_tui.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "import threading\nprint('anthropic' in sys.modules, len(threading.enumerate()), file=sys.stderr)\n"
    )
    env = {**os.environ, "ANTHROPIC_API_KEY": "test-key"}  # a key is set: still nothing to import
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip(), "the command printed nothing"
    assert r.stderr.strip().splitlines()[-1] == "False 1", r.stderr
