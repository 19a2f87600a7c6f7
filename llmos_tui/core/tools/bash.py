"""Bash: run a shell command in the workspace, the way Claude Code's Bash tool does.

The command runs in its own session (process group) so a timeout or a cancelled run can kill
everything it started, grandchildren included, with one `killpg`. Output is read as it comes
and only ~1 MB is kept (head and tail), so a chatty command cannot eat the runner's memory.

Confinement (`BashPolicy`, set by the runner in `ctx.extra["bash"]`): when the machine has a
working bubblewrap, the command runs in its sandbox (core/tools/bwrap.py: the workspace writable,
the rest read-only, secrets hidden, /tmp private, the network off unless allowed); a ToolMap entry
with `sandbox: off` runs it unconfined. A context without a policy (a tool called on its own)
runs it unconfined. Either way the environment loses the API keys and tokens (`SECRET_ENV`, names
that end like a secret, and the policy's `hide_env`), and the call's process group dies with the
driver and is journaled for `resume` (core/tools/procs.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from llmos_tui.core.tools import bwrap, procs
from llmos_tui.core.tools.base import ToolContext, ToolError, ToolOutput, cap_text

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
KEEP_BYTES = 1024 * 1024  # output kept in memory: half from the head, half from the tail
CHUNK = 65536
EXIT_POLL = 0.05  # how often to look whether bash exited while its output stays open
DRAIN_GRACE = 0.2  # after bash exits, how long background children may hold the pipe

# removed from every Bash call's environment, sandboxed or not (with TrainingDataCollector.md's
# redaction.env_vars, which the runner adds to the policy)
SECRET_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "SLACK_BOT_TOKEN",
    "NPM_TOKEN",
    "PYPI_TOKEN",
)
# …and any variable named like a secret: FOO_API_KEY, FOO_TOKEN, FOO_SECRET, FOO_PASSWORD, …
SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|SECRET|SECRET_KEY|SECRET_ACCESS_KEY|TOKEN|PASSWORD|PASSWD|CREDENTIALS?)$", re.I
)


@dataclass(frozen=True)
class BashPolicy:
    """How a run confines its Bash calls (the runner builds it from SystemAgent.md and the
    ToolMap: `bash_network`, and Bash's `network: allow` and `sandbox: off`)."""

    sandbox: bool = True  # in bubblewrap when the machine has it; False: unconfined
    network: bool = False  # the network inside the sandbox (unconfined Bash always has it)
    write_roots: tuple[str, ...] = ()  # writable besides the workspace (paths.allow_write)
    read_only: tuple[str, ...] = ()  # inside the workspace yet read-only (runs/, the state file, the lock)
    hide_env: tuple[str, ...] = ()  # more variables to remove from the environment


UNCONFINED = BashPolicy(sandbox=False)


def clean_environment(env: Mapping[str, str], hide: tuple[str, ...] = ()) -> dict[str, str]:
    """`env` without API keys, tokens and the variables named in `hide`."""
    drop = {*SECRET_ENV, *hide}
    return {k: v for k, v in env.items() if k not in drop and not SECRET_NAME.search(k)}


def sandbox_notice(policy: BashPolicy) -> str | None:
    """What a run should say once at its start about Bash's confinement, or None when it is as
    configured (sandboxed on a machine with bubblewrap, or `sandbox: off` by choice)."""
    if not policy.sandbox:
        return None
    found = bwrap.probe()
    if found.ok:
        return None
    return (
        f"Bash runs unconfined: {found.reason}. Its commands can read and write whatever this user can "
        "(install the bubblewrap package to sandbox them; see the README)."
    )


class _Capture:
    """Keep the first and last KEEP_BYTES/2 bytes of a stream, counting what was dropped."""

    def __init__(self, keep: int = KEEP_BYTES) -> None:
        self.half = keep // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            extra = len(self.tail) - self.half
            if extra > 0:
                del self.tail[:extra]
                self.dropped += extra

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.dropped:
            return f"{head}\n… [{self.dropped} bytes of output dropped] …\n{tail}"
        return head + tail


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the command's whole process group (its pgid is its pid: start_new_session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _close(proc: asyncio.subprocess.Process) -> None:
    """Release our end of the pipe even if a background child still holds the other end."""
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()


def _timeout_seconds(inputs: dict[str, Any]) -> float:
    value = inputs.get("timeout")
    if value is None:
        return DEFAULT_TIMEOUT_MS / 1000
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ToolError(f"timeout must be a positive number of milliseconds, got {value!r}.")
    return min(float(value), MAX_TIMEOUT_MS) / 1000


class BashTool:
    """Run `/bin/bash -c command` in the workspace with a timeout."""

    name = "Bash"
    description = (
        "Run a bash command with the workspace as the current directory. stdout and stderr are "
        f"merged. timeout is in milliseconds (default {DEFAULT_TIMEOUT_MS}, max {MAX_TIMEOUT_MS}); "
        "on timeout the command and everything it started are killed. It may run in a sandbox: "
        "then only the workspace is writable, /tmp is private and empty, and the network is off "
        "unless the run allows it."
    )
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command to run."},
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": MAX_TIMEOUT_MS,
                "description": f"Timeout in milliseconds (max {MAX_TIMEOUT_MS}).",
            },
            "description": {
                "type": "string",
                "description": "A few words saying what the command does.",
            },
        },
        "required": ["command"],
        "additionalProperties": False,
    }

    async def run(self, inputs: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        command = inputs.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("command is empty; give a bash command to run.")
        timeout = _timeout_seconds(inputs)
        policy: BashPolicy = ctx.extra.get("bash") or UNCONFINED
        env = clean_environment(os.environ if ctx.env is None else ctx.env, policy.hide_env)
        mark = secrets.token_hex(16)
        env[procs.MARK_VAR] = mark  # how `resume` knows this call's processes (core/tools/procs.py)
        argv = ["/bin/bash", "-c", command]
        root = str(ctx.sandbox.root)
        found = bwrap.probe() if policy.sandbox else None
        if found is not None and found.path is not None:
            argv = bwrap.argv(
                found.path,
                argv,
                cwd=root,
                write_roots=(root, *policy.write_roots),
                read_only=policy.read_only,
                network=policy.network,
            )
            env["TMPDIR"] = "/tmp"  # the sandbox's own, private /tmp
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=root,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise ToolError(f"Cannot start {argv[0]}: {exc.strerror or exc}") from None
        # its group dies with the driver (the reaper), and the journal knows it (for `resume`)
        started = procs.identity(proc.pid, mark)
        procs.REAPER.watch(started)
        on_process: Callable[[dict[str, Any]], None] | None = ctx.extra.get("on_process")
        if on_process is not None:
            on_process(started)

        capture = _Capture()
        reader = asyncio.ensure_future(self._read(proc, capture))
        detached = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    detached = await self._wait(proc, reader)
            except TimeoutError:
                _kill_group(proc)
                await self._finish(proc, reader)
                out = cap_text(capture.text().rstrip(), ctx.output_cap)
                raise ToolError(
                    f"Command timed out after {timeout:g} s; it and every process it started "
                    f"were killed. Output so far:\n{out or '(no output)'}"
                ) from None
        except asyncio.CancelledError:
            _kill_group(proc)
            reader.cancel()
            _close(proc)
            raise

        out = cap_text(capture.text().rstrip(), ctx.output_cap)
        if detached:
            out += "\n(background processes still hold the output open; their later output is not shown)"
        rc = proc.returncode
        if rc == 0:
            return ToolOutput(out if out.strip() else "(no output)")
        if rc is not None and rc < 0:
            try:
                status = f"killed by signal {signal.Signals(-rc).name}"
            except ValueError:
                status = f"killed by signal {-rc}"
        else:
            status = f"exit code {rc}"
        return ToolOutput(f"{out}\n{status}" if out else status, is_error=True)

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process, capture: _Capture) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(CHUNK):
            capture.add(chunk)

    @staticmethod
    async def _wait(proc: asyncio.subprocess.Process, reader: asyncio.Future[None]) -> bool:
        """Wait for the output to end; True if bash exited but a background child kept it open.

        `proc.wait()` would wait for the pipe to close too, so a `server &` would hang the
        call; instead watch for EOF and, while it does not come, for bash's own exit.
        """
        while True:
            done, _ = await asyncio.wait({reader}, timeout=EXIT_POLL)
            if done:
                reader.result()
                await proc.wait()
                return False
            if proc.returncode is not None:
                done, _ = await asyncio.wait({reader}, timeout=DRAIN_GRACE)
                if done:
                    reader.result()
                    return False
                reader.cancel()
                _close(proc)
                await asyncio.wait({reader})
                return True

    @staticmethod
    async def _finish(proc: asyncio.subprocess.Process, reader: asyncio.Future[None]) -> None:
        """After a kill: collect the last output and reap bash, without waiting forever."""
        done, _ = await asyncio.wait({reader}, timeout=1.0)
        if not done:
            reader.cancel()  # something escaped the process group and holds the pipe
            _close(proc)
            await asyncio.wait({reader})
        try:
            await asyncio.wait_for(proc.wait(), timeout=1.0)
        except TimeoutError:
            pass
