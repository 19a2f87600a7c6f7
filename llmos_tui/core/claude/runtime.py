"""The claude-code runtime: where Claude Code's CLI is, and the ToolMap's tools as Claude Code
offers them. claude-agent-sdk is an optional extra; nothing here imports it until a run starts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, cast

from llmos_tui.core.config import AgentConfig
from llmos_tui.core.errors import BadInput
from llmos_tui.core.registry import ToolRegistry, builtin_tools
from llmos_tui.core.runtime.base import ModelTurn, TextListener, TurnRequest
from llmos_tui.core.tools.base import Tool, ToolContext, ToolError, ToolOutput

EXTRA_HINT = "pip install 'llmos-tui[claude-code]'"
CLI_ENV = "LLMOS_CLAUDE_CLI"  # an explicit Claude Code CLI (default: the one the SDK bundles)
MCP_SERVER = "llmos"
MCP_PREFIX = f"mcp__{MCP_SERVER}__"
# Claude Code's own tools a ToolMap may offer. Task is not among them in this version: Claude
# Code's sub-agents would run their calls in a conversation of their own.
CLAUDE_CODE_TOOLS = ("Read", "Write", "Edit", "Bash", "Grep", "Glob", "WebFetch", "WebSearch", "NotebookEdit")

# ---------------------------------------------------------------- finding the engine


def require_sdk() -> Any:
    """The claude_agent_sdk module, or BadInput naming the extra to install."""
    try:
        import claude_agent_sdk
    except ImportError as exc:
        raise BadInput(
            f"the claude-code runtime needs claude-agent-sdk, which is not installed "
            f"({exc.name or exc}); install the extra: {EXTRA_HINT}"
        ) from None
    return claude_agent_sdk


def find_cli(sdk: Any = None) -> str:
    """The Claude Code CLI to run: $LLMOS_CLAUDE_CLI, else the one bundled in claude-agent-sdk's
    wheel, else `claude` on PATH; BadInput when there is none."""
    given = os.environ.get(CLI_ENV)
    if given:
        found = shutil.which(given)
        if found is None:
            raise BadInput(f"{CLI_ENV}={given} is not an executable Claude Code CLI")
        return found
    sdk = sdk or require_sdk()
    bundled = Path(sdk.__file__).parent / "_bundled" / ("claude.exe" if os.name == "nt" else "claude")
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("claude")
    if found:
        return found
    raise BadInput(
        "Claude Code's CLI was not found: claude-agent-sdk bundles it only in its "
        "platform wheels; install Claude Code (npm install -g @anthropic-ai/claude-code) "
        f"or set {CLI_ENV}=/path/to/claude"
    )


def make_claude_code_runtime(config: AgentConfig) -> ClaudeCodeRuntime:
    sdk = require_sdk()
    return ClaudeCodeRuntime(cli_path=find_cli(sdk), model=config.model)


class ClaudeCodeRuntime:
    """What the run needs to start Claude Code. The conversation itself is the driver's
    (core/claude/driver.py)."""

    name = "claude-code"

    def __init__(self, *, cli_path: str, model: str = "", env: dict[str, str] | None = None) -> None:
        self.cli_path = cli_path
        self.model = model
        self.env = dict(env or {})  # added to the CLI's environment (it inherits ours)
        self.text_listeners: list[TextListener] = []  # the model's words, streamed (StreamsText)

    async def next_turn(self, request: TurnRequest) -> ModelTurn:
        raise RuntimeError("Claude Code holds its own conversation: ClaudeCodeRunner drives it")

    async def simulate(
        self, tool: str, inputs: dict[str, Any], spec_line: str, turn_index: int, position: int
    ) -> ToolOutput:
        raise ToolError("simulate mode is not available with the claude-code runtime")


# ---------------------------------------------------------------- the tools


class _ClaudeCodeOnly:
    """A Claude Code tool llmos-tui has no implementation of (only Claude Code runs it)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = f"Claude Code's {name} tool."
        self.input_schema: dict[str, Any] = {"type": "object"}

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        raise ToolError(
            f"{self.name} was not run: only Claude Code runs it, and its session ended "
            f"before it did. Call it again if it is still needed."
        )


class ClaudeCodeRegistry(ToolRegistry):
    """The ToolMap's tools as Claude Code offers them. Validation is Claude Code's own; ours
    checks only the parameters we know (Claude Code's tools take a few more, e.g. Bash's
    run_in_background), so a person's edit of a call cannot break it."""

    def __init__(self, specs: dict[str, Any]) -> None:  # ToolSpec by name
        impls: dict[str, Tool] = {n: t for n, t in builtin_tools().items() if n != "Task"}
        for name in CLAUDE_CODE_TOOLS:
            impls.setdefault(name, _ClaudeCodeOnly(name))
        super().__init__(specs, impls)

    def claude_code_tools(self) -> list[str]:
        return [n for n in self.tools if n in CLAUDE_CODE_TOOLS]

    def validate(self, name: str, inputs: Any) -> str | None:
        if not isinstance(inputs, dict):
            return "inputs must be a mapping of parameter names to values"
        reg = self.tools.get(name)
        if reg is None:
            return None  # not a ToolMap tool: Claude Code checks its inputs
        # Claude Code's own tools take parameters ours do not know: only ours are checked
        return self._check(
            name, {k: v for k, v in reg.tool.input_schema.items() if k != "additionalProperties"}, inputs
        )


def tool_name(name: str) -> str:
    """A tool's name as the ToolMap and the trace know it (UpdatePlan comes as an MCP tool)."""
    return name[len(MCP_PREFIX) :] if name.startswith(MCP_PREFIX) else name


ASK_ALL = {
    "hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": "ask",
        "permissionDecisionReason": "llmos-tui decides every tool call",
    }
}


async def ask_every_call(input_data: Any, tool_use_id: Any, context: Any) -> dict[str, Any]:
    """A PreToolUse hook answering "ask": every call becomes a question for can_use_tool, even
    those Claude Code would allow itself."""
    return ASK_ALL


def session_options(
    runtime: ClaudeCodeRuntime,
    registry: ClaudeCodeRegistry,
    ctx: ToolContext,
    *,
    system_prompt: str,
    model: str,
    cwd: str,
    resume: str | None,
    can_use_tool: Any,
    stderr: Any,
) -> Any:
    """The options of one Claude Code session of a run: the ToolMap's tools, UpdatePlan as an
    in-process MCP tool, every call through `can_use_tool`, and no user or project settings."""
    from claude_agent_sdk import ClaudeAgentOptions, HookMatcher, create_sdk_mcp_server, tool

    servers: dict[str, Any] = {}
    plan = registry.get("UpdatePlan")
    if plan is not None:

        async def update_plan(args: dict[str, Any]) -> dict[str, Any]:
            try:
                out = await plan.tool.run(args, ctx)
            except ToolError as exc:
                return {"content": [{"type": "text", "text": str(exc)}], "is_error": True}
            except Exception as exc:  # noqa: BLE001 - the model hears of it, the run goes on
                return {
                    "content": [{"type": "text", "text": f"UpdatePlan failed: {type(exc).__name__}: {exc}"}],
                    "is_error": True,
                }
            return {"content": [{"type": "text", "text": out.text}]}

        sdk_tool = tool("UpdatePlan", plan.api_definition()["description"], plan.tool.input_schema)(update_plan)
        servers[MCP_SERVER] = create_sdk_mcp_server(MCP_SERVER, tools=[sdk_tool])
    return ClaudeAgentOptions(
        tools=registry.claude_code_tools(),
        system_prompt=system_prompt,
        mcp_servers=servers,
        strict_mcp_config=True,
        permission_mode="default",
        can_use_tool=can_use_tool,
        hooks={"PreToolUse": [HookMatcher(matcher=None, hooks=[cast(Any, ask_every_call)])]},
        setting_sources=[],  # no user/project settings: their permissions and hooks stay out
        include_partial_messages=True,
        model=model,
        cwd=cwd,
        cli_path=runtime.cli_path,
        env=dict(runtime.env),
        resume=resume,
        stderr=stderr,
        max_buffer_size=64 * 1024 * 1024,
    )
