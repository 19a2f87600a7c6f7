"""Opening runs: one place where a run's config, tools and runtime are put together.

The headless CLI, the TUI and the demo all open and resume runs through these two functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos_tui.core.config import AgentConfig, check_breakpoints, load_agent_config
from llmos_tui.core.engine.breakpoints import check_all, merged
from llmos_tui.core.errors import BadInput
from llmos_tui.core.inputs import SCRIPT_MAX, read_bytes
from llmos_tui.core.journal import iter_effective, iter_records
from llmos_tui.core.ledger import Ledger
from llmos_tui.core.registry import ToolRegistry
from llmos_tui.core.runner import Runner, RunOptions
from llmos_tui.core.toolmap import load_toolmap
from llmos_tui.core.workspace import SCRIPT_NAME, STATE_NAME, SYSTEM_AGENT_NAME, TOOLMAP_NAME, Workspace


@dataclass(frozen=True)
class RunRequest:
    goal: str
    runtime: str | None = None  # native | claude-code | scripted (None: scripted with a script)
    script: Path | None = None
    mode: str = "execute"
    model: str | None = None
    approval: str | None = None
    max_cost_usd: float | None = None
    variables: dict[str, Any] | None = None
    run_id: str | None = None  # default: start time plus a random suffix
    breakpoints: tuple[str, ...] = ()  # --break: added to SystemAgent.md's (core/engine/breakpoints.py)


def load_parts(
    ws: Workspace, *, model: str | None = None, approval: str | None = None, max_cost_usd: float | None = None
) -> tuple[AgentConfig, ToolRegistry]:
    ws.require_system()
    agent, tool_map = ws.system_file(SYSTEM_AGENT_NAME), ws.system_file(TOOLMAP_NAME)
    config = load_agent_config(agent).with_(model=model, approval=approval, max_cost_usd=max_cost_usd)
    notes = [
        f"{path} is used: it is where LLMunix keeps it, and {ws.system} has no {path.name}"
        for path in (agent, tool_map)
        if path.parent != ws.system
    ]
    registry = ToolRegistry(load_toolmap(tool_map, notes))
    check_breakpoints(config, registry)
    if notes:  # how an LLMunix file was read: said when a run starts (see say_notes)
        config = config.with_(notes=config.notes + tuple(notes))
    return config, registry


def say_notes(runner: Runner) -> None:
    """What a person should know about how the system files were read (SystemAgent.md without
    front matter, an LLMunix tool map): a note in the journal, and a notice for the face."""
    for message in runner.config.notes:
        runner.rec.note(message)
        runner.notices.append(message)


def driver_for(runtime_name: str) -> type[Runner]:
    """The driver of a runtime's runs: the runner's loop, or for claude-code the Claude Code SDK
    driver (Claude Code holds the conversation and runs the tools itself)."""
    if runtime_name == "claude-code":
        from llmos_tui.core.claude.driver import ClaudeCodeRunner

        return ClaudeCodeRunner
    return Runner


def make_runtime(name: str, script: Path | None, config: AgentConfig | None = None) -> Any:
    if name == "scripted":
        from llmos_tui.core.runtime.scripted import ScriptedRuntime

        if script is None:
            raise BadInput("--runtime scripted needs --script FILE (a YAML list of assistant turns)")
        if not Path(script).exists():
            raise BadInput(f"script not found: {script}")
        return ScriptedRuntime.load(Path(script))
    if name == "claude-code":  # Claude Code finds its own credentials (API key, or its login)
        from llmos_tui.core.claude.runtime import make_claude_code_runtime

        return make_claude_code_runtime(config or AgentConfig())
    if name == "external":
        raise BadInput(
            "this run records a Claude Code session through its hooks (`llmos-tui hook`): it "
            "goes on when that session calls them again, not from llmos-tui"
        )
    if name not in ("native", "claude-code"):
        raise BadInput(f"unknown runtime {name!r}; use native, claude-code or scripted")
    if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        raise BadInput(
            "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=sk-ant-… to run on Claude "
            "(ANTHROPIC_BASE_URL for a compatible server), try the offline `llmos-tui demo`, "
            "or replay a script with --runtime scripted --script FILE"
        )
    if name == "native":
        from llmos_tui.core.runtime.native import NativeRuntime

        require_anthropic()
        config = config or AgentConfig()
        return NativeRuntime(
            prices=config.prices,
            model=config.model,
            small_model=config.small_model,
            context_window=config.context_window,
            max_tokens=config.max_tokens,
        )
    raise BadInput(
        f"the {name} runtime is not part of this version yet; use --runtime native "
        f"(Claude through the API), replay a script with --runtime scripted --script FILE, "
        f"or try `llmos-tui demo`"
    )


def require_anthropic() -> None:
    """Import the anthropic SDK: a missing or broken one is one line, before the run exists."""
    try:
        import anthropic  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - whatever a broken SDK raises on import: one line
        raise BadInput(
            f"the native runtime cannot import the anthropic SDK ({type(exc).__name__}: {exc}); "
            "install it again: pip install --force-reinstall 'anthropic>=0.70'"
        ) from None


def preflight(ws: Workspace, req: RunRequest | None = None, breakpoints: tuple[str, ...] = ()) -> None:
    """Raise the error opening this run would raise, before a UI is shown for it."""
    from llmos_tui.core.lock import holder_info
    from llmos_tui.core.state import StateFile

    _, registry = load_parts(ws, model=req.model if req else None, approval=req.approval if req else None)
    check_all(breakpoints or (req.breakpoints if req else ()), registry)
    if req is not None:
        make_runtime(req.runtime or ("scripted" if req.script else "native"), req.script)
    holder = holder_info(ws.root)
    if holder is not None:
        from llmos_tui.core.errors import WorkspaceLocked

        raise WorkspaceLocked(
            f"workspace {ws.root} is already driven by another process (pid "
            f"{holder.get('pid', '?')}, run {holder.get('run_id', '?')}); stop it first"
        )
    if req is not None and ws.state_path.exists():
        StateFile(ws.state_path).load()


def start_run(ws: Workspace, req: RunRequest, options: RunOptions = RunOptions()) -> Runner:
    config, registry = load_parts(ws, model=req.model, approval=req.approval, max_cost_usd=req.max_cost_usd)
    if req.breakpoints:  # SystemAgent.md's, then --break's (a bad one: BadInput, before the run exists)
        config = config.with_(breakpoints=merged(config.breakpoints, check_all(req.breakpoints, registry)))
    runtime_name = req.runtime or ("scripted" if req.script else "native")
    script = Path(req.script).absolute() if req.script else None  # (a symlink is named as given)
    runtime = make_runtime(runtime_name, script, config)
    runner = driver_for(runtime_name).start(
        ws,
        req.goal,
        config=config,
        registry=registry,
        runtime=runtime,
        runtime_name=runtime_name,
        mode=req.mode,
        variables=req.variables,
        options=options,
        run_id=req.run_id,
        # resume replays this copy, wherever the original goes
        run_files={"script.yaml": read_bytes(script, limit=SCRIPT_MAX)} if script else None,
    )
    say_notes(runner)
    return runner


def resume_run(
    ws: Workspace,
    run_id: str,
    *,
    approval: str | None = None,
    max_cost_usd: float | None = None,
    options: RunOptions = RunOptions(),
    breakpoints: tuple[str, ...] = (),
) -> Runner:
    config, registry = load_parts(ws, max_cost_usd=max_cost_usd)
    breakpoints = check_all(breakpoints, registry)  # --break: added to the run's (a bad one stops here)
    first = next(iter_records(ws.journal_path(run_id)))["data"]  # (an empty journal raises)
    runtime_name = first.get("runtime", "scripted")
    if runtime_name != "scripted" and first.get("model"):
        config = config.with_(model=first["model"])  # the model the run started on (--model)
    script = ws.run_dir(run_id) / SCRIPT_NAME
    runtime = make_runtime(runtime_name, script if script.exists() else None, config)
    runner = driver_for(runtime_name).resume(
        ws, run_id, config=config, registry=registry, runtime=runtime, options=options, approval=approval
    )
    if (more := merged(runner.ledger.breakpoints, breakpoints)) != runner.ledger.breakpoints:
        runner.rec.record("breakpoints_changed", data={"breakpoints": list(more), "by": "cli"})
    say_notes(runner)
    return runner


def queue_breakpoints(ws: Workspace, run_id: str, specs: tuple[str, ...]) -> None:
    """--break for a run a face resumes itself (the TUI): a `breakpoints` command in its
    control.jsonl, with the run's breakpoints and these, applied as it goes on."""
    from llmos_tui.core.control import ControlChannel, new_command
    from llmos_tui.core.statuses import RUN_TERMINAL

    led = read_ledger(ws, run_id) if specs else None
    if led is not None and led.status not in RUN_TERMINAL and merged(led.breakpoints, specs) != led.breakpoints:
        ControlChannel(ws.control_path(run_id)).append(
            new_command("breakpoints", breakpoints=merged(led.breakpoints, specs))
        )


def read_ledger(ws: Workspace, run_id: str, *, keep_messages: bool = False) -> Ledger:
    """A run as its journal tells it (read-only: for status, lists and watchers), streamed."""
    path = ws.journal_path(run_id)
    return Ledger.from_records(iter_effective(path), str(path), keep_messages=keep_messages)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    goal: str
    cost_usd: float
    steps: int
    started_at: str
    problem: str | None = None  # set when the run could not be read
    cost_known: bool = True  # False: some of its tokens have no price (a local model)

    @property
    def cost(self) -> str:
        from llmos_tui.core.state import Usage, cost_text

        return cost_text(Usage(cost_usd=self.cost_usd, cost_known=self.cost_known))


def list_runs(ws: Workspace) -> list[RunSummary]:
    """Every run of the workspace, newest first: from its final state copy when it ended, from the
    live state file when it shows the run, else by folding its journal."""
    from llmos_tui.core.errors import LlmosError
    from llmos_tui.core.state import StateFile

    live = None
    if ws.state_path.exists():
        try:
            live = StateFile(ws.state_path).load()
        except LlmosError:
            live = None
    out = []
    for run_id in reversed(ws.run_ids()):
        final = ws.run_dir(run_id) / STATE_NAME
        try:
            if final.exists():
                st = StateFile(final).load()
            elif live is not None and live.run_id == run_id:
                st = live
            else:
                st = read_ledger(ws, run_id).snapshot()
        except LlmosError as exc:
            out.append(RunSummary(run_id, "unreadable", "", 0.0, 0, "", problem=str(exc)))
            continue
        out.append(
            RunSummary(
                run_id,
                st.status,
                st.goal,
                st.usage.cost_usd,
                st.steps_total,
                st.started_at,
                cost_known=st.usage.cost_known,
            )
        )
    return out
