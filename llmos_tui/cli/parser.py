"""`llmos-tui`'s arguments: every command, its flags and its help (the contract is in docs/design.md §7)."""

from __future__ import annotations

import argparse

from llmos_tui import __version__
from llmos_tui.cli.batch_commands import add_parsers as add_batch_parsers
from llmos_tui.cli.commands import cmd_decide, cmd_export, cmd_hook, cmd_init, cmd_runs, cmd_status, cmd_tools
from llmos_tui.cli.inbox_commands import add_parsers as add_inbox_parsers
from llmos_tui.cli.run_commands import cmd_demo, cmd_open, cmd_resume, cmd_run, cmd_serve, cmd_watch
from llmos_tui.cli.timetravel_commands import add_parsers as add_timetravel_parsers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmos-tui", description="Run LLM-OS agents you can watch, steer and learn from.")
    p.add_argument("--version", action="version", version=f"llmos-tui {__version__}")
    p.add_argument("--workspace", metavar="DIR", help="(no command) open the TUI on this workspace")
    p.add_argument("--theme", help="(no command) colour theme, e.g. llmos-light")
    p.add_argument("--runtime", choices=["native", "claude-code", "scripted"], help=argparse.SUPPRESS)
    p.add_argument("--script", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_open)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def workspace_arg(sp: argparse.ArgumentParser, default: str = "./workspace") -> None:
        sp.add_argument(
            "--workspace",
            metavar="DIR",
            help=f"the workspace folder, or a project folder holding workspace/ (default: {default})",
        )

    run_id_help = "the run (default: the latest); a prefix or suffix of its id will do"

    def drive_args(sp: argparse.ArgumentParser, workspace_default: str = "./workspace") -> None:
        sp.add_argument("--headless", action="store_true", help="run without the terminal UI")
        sp.add_argument("--theme", help="colour theme: llmos-dark, llmos-light, llmos-high-contrast (remembered)")
        sp.add_argument(
            "--approve",
            choices=["ask", "side-effects", "never"],
            help="which tool calls wait for a person (default: SystemAgent.md's approval)",
        )
        sp.add_argument(
            "--no-wait", action="store_true", help="stop (exit 3) when a person must decide, instead of waiting"
        )
        sp.add_argument("-q", "--quiet", action="store_true", help="print only the final line")
        sp.add_argument(
            "--break",
            dest="breaks",
            action="append",
            metavar="SPEC",
            help="stop before a step, even under --approve never (repeatable; added to SystemAgent.md's "
            "breakpoints): a ToolMap tool name (Write), path:GLOB (the call's file path, relative to the "
            "workspace; ** spans folders), bash:REGEX (a Bash command), step:N, cost:USD (when the run's "
            "cost goes above it) or failed (after a step that failed)",
        )
        workspace_arg(sp, workspace_default)

    r = sub.add_parser("run", help="run a goal", description="Run a goal to its end, step by step.")
    r.add_argument("goal", help="what the agent should do")
    r.add_argument(
        "--mode",
        choices=["execute", "simulate"],
        default="execute",
        help="execute: real tools; simulate: results simulated, nothing touched",
    )
    r.add_argument(
        "--runtime",
        choices=["native", "claude-code", "scripted"],
        help="what produces the model's turns (default: scripted with --script, else native)",
    )
    r.add_argument("--script", metavar="FILE", help="YAML script of assistant turns for --runtime scripted")
    r.add_argument("--model", help="model name (default: SystemAgent.md's model)")
    r.add_argument("--max-cost", type=float, metavar="USD", help="pause the run when its cost reaches this")
    drive_args(r)
    r.set_defaults(func=cmd_run)

    rs = sub.add_parser(
        "resume",
        help="continue a paused or interrupted run",
        description="Continue a run from its journal (the latest run by default).",
    )
    rs.add_argument("run_id", nargs="?", metavar="RUN_ID", help=run_id_help)
    rs.add_argument("--max-cost", type=float, metavar="USD", help="raise the run's cost budget")
    drive_args(rs)
    rs.set_defaults(func=cmd_resume)

    st = sub.add_parser("status", help="show a run's state", description="Show a run's state (the latest by default).")
    st.add_argument("run_id", nargs="?", metavar="RUN_ID", help=run_id_help)
    st.add_argument("--json", action="store_true", help="machine-readable: the state's front matter as JSON")
    workspace_arg(st)
    st.set_defaults(func=cmd_status)

    rn = sub.add_parser("runs", help="list the workspace's runs", description="List runs, newest first.")
    workspace_arg(rn)
    rn.set_defaults(func=cmd_runs)

    tl = sub.add_parser(
        "tools",
        help="the ToolMap's declared figures beside the observed ones",
        description="Each tool's declared cost, latency, side effects and approval "
        "(system/ClaudeCodeToolMap.md) beside what runs observed "
        "(system/tool_stats.json): calls, error rate, p50/p95 latency, cost.",
    )
    tl.add_argument("--json", action="store_true", help="machine-readable rows")
    workspace_arg(tl)
    tl.set_defaults(func=cmd_tools)

    ex = sub.add_parser(
        "export",
        help="turn runs' traces into training data (JSON Lines)",
        description="Export runs as training data, one JSON object per line, redacted. Named runs are "
        "exported whatever their status (a killed run: what it has); --all takes every run, "
        "sub-agent runs included, that passes TrainingDataCollector.md's filters, which the "
        "flags below override. Formats: seed (the trace), anthropic, openai, hf (transformers "
        "chat templates, TRL), llamafactory (LLaMA-Factory; its dataset_info.json is written "
        "beside the file), sharegpt, preference (pairs from edited and denied steps). "
        "--dataset DIR writes a folder instead: train/validation splits per format, a dataset "
        "card and stats.json. --check reads what was written back and checks every row.",
    )
    ex.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to export (a prefix or suffix will do)")
    ex.add_argument("--all", action="store_true", help="every run that passes the filters")
    ex.add_argument(
        "--format",
        action="append",
        choices=["seed", "anthropic", "openai", "hf", "llamafactory", "sharegpt", "preference"],
        help="default: TrainingDataCollector.md's default_format (with --dataset: its formats); a "
        "format left out of its `formats` list is still exported when named here; repeat it "
        "with --dataset for several",
    )
    ex.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (- for stdout); default: <workspace>/<output_dir>/<format>-<time>.jsonl",
    )
    ex.add_argument(
        "--dataset",
        metavar="DIR",
        help="write a dataset folder: <format>/train.jsonl and validation.jsonl, README.md "
        "(the dataset card), stats.json, and dataset_info.json with llamafactory",
    )
    ex.add_argument(
        "--val",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="with --dataset: the share of runs in the validation split (default 0.1)",
    )
    ex.add_argument("--seed", type=int, default=0, help="with --dataset: the split's shuffle seed (default 0)")
    ex.add_argument(
        "--single-call",
        action="store_true",
        help="one call per assistant turn: parallel calls become consecutive turns (for chat "
        "templates such as Llama 3.1's that take one call at a time)",
    )
    ex.add_argument(
        "--check",
        action="store_true",
        help="read what was written back, check every row by the format's rules and print per "
        "format: rows, valid, trimmed, skipped (exit 1 when a row is invalid)",
    )
    ex.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="with --dataset: upload the folder as a private Hugging Face dataset (needs huggingface_hub and a login)",
    )
    ex.add_argument(
        "--status",
        nargs="+",
        metavar="S",
        choices=["completed", "failed", "cancelled", "paused", "running", "awaiting_approval", "planning"],
        help="only runs with these statuses (default with --all: the file's filters.status)",
    )
    ex.add_argument("--mode", nargs="+", metavar="M", choices=["execute", "simulate"], help="only runs in these modes")
    ex.add_argument(
        "--human-reviewed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only runs where a person approved, edited, denied, skipped or retried a step",
    )
    ex.add_argument("--since", metavar="YYYY-MM-DD", help="only runs started on or after this date (UTC)")
    ex.add_argument("--no-subagents", action="store_true", help="with --all: leave Task sub-agent runs out")
    ex.add_argument("--batch", metavar="DIR", help="every goal's runs of a batch (`llmos-tui batch`) as one")
    workspace_arg(ex)
    ex.set_defaults(func=cmd_export)

    helps = {
        "approve": "let the pending step run",
        "deny": "refuse the pending step; --feedback says why, and the model reads it",
        "skip": "skip the pending step without running it",
        "retry": "run an uncertain step again",
        "pause": "pause the run after the current step",
        "resume-run": "let a paused run go on (what `resume` does for a run another process drives)",
        "cancel": "cancel the run",
    }
    for name, text in helps.items():
        d = sub.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]} (appends to the run's control.jsonl)."
        )
        d.add_argument("run_id", nargs="?", metavar="RUN_ID", help=run_id_help)
        if name in ("approve", "deny", "skip", "retry"):
            d.add_argument("--step", type=int, metavar="N", help="the step (default: the one waiting)")
        d.add_argument(
            "--feedback",
            metavar="TEXT",
            help="why: the model reads it as the call's result"
            if name == "deny"
            else "why: recorded with the decision (the journal, the trace, exports)",
        )
        if name in ("approve", "retry"):
            d.add_argument("--inputs", metavar="JSON", help="run the step with these inputs instead")
        if name == "approve":
            d.add_argument("--rest", action="store_true", help="approve this step and every later one")
        d.add_argument(
            "--timeout",
            type=float,
            default=10.0,
            metavar="S",
            help="how long to wait for the driver to apply it (default 10)",
        )
        workspace_arg(d)
        d.set_defaults(func=cmd_decide)

    w = sub.add_parser(
        "watch",
        help="the TUI on a run another process drives (approve from here)",
        description="Follow the latest run of WORKSPACE (default ./workspace) as another "
        "process drives it; keys send decisions through the run's control.jsonl. "
        "A run whose driver died can be taken over with p.",
    )
    w.add_argument("workspace_dir", nargs="?", metavar="WORKSPACE")
    w.add_argument("--theme", help="colour theme (remembered)")
    workspace_arg(w)
    w.set_defaults(func=cmd_watch)

    sv = sub.add_parser(
        "serve",
        help="the TUI in a web browser (watch mode), on 127.0.0.1",
        description="Serve `llmos-tui watch WORKSPACE` to web browsers through textual-serve. "
        "Binds 127.0.0.1 unless --host is given: whoever reaches the port can "
        "approve commands.",
    )
    sv.add_argument("workspace_dir", nargs="?", metavar="WORKSPACE")
    sv.add_argument("--host", help="address to bind (default 127.0.0.1; anything else is reachable by others)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--theme", help="colour theme")
    workspace_arg(sv)
    sv.set_defaults(func=cmd_serve)

    dm = sub.add_parser(
        "demo",
        help="the offline demo: a scripted agent, real tools, the real TUI",
        description="Open a bundled scenario in the TUI: a scripted model, real tools in a "
        "temporary (or named) workspace, and a small web page served on 127.0.0.1.",
    )
    dm.add_argument(
        "--scenario",
        choices=["weather", "notes"],
        default="weather",
        help="weather: the seed's London weather goal (default); notes: tidy meeting notes",
    )
    drive_args(dm, "a new temporary folder")
    dm.set_defaults(func=cmd_demo, approve="side-effects")

    i = sub.add_parser(
        "init",
        help="lay out system/ and workspace/",
        description="Create system/ (default agent documents) and workspace/ in DIR; never overwrites a file.",
    )
    i.add_argument("dir", nargs="?", metavar="DIR")
    i.add_argument(
        "--claude",
        action="store_true",
        help="also add hooks to DIR/.claude/settings.json, so the Claude Code sessions you run "
        "there are recorded and gated as runs (keeps the file's other settings)",
    )
    i.set_defaults(func=cmd_init)

    hk = sub.add_parser(
        "hook",
        help="Claude Code's hook (set up by `init --claude`): records a session's "
        "tool calls as a run, waits for approvals",
        description="Read a Claude Code hook event (PreToolUse, PostToolUse, "
        "PostToolUseFailure, Stop) as JSON on stdin and record it in the run of "
        "that session in <cwd>/workspace. A PreToolUse that needs approval waits "
        "for `llmos-tui approve|deny|skip` or a watcher's key and answers in "
        "Claude Code's hook JSON; after --wait seconds it hands the question "
        "back to Claude Code's own prompt.",
    )
    hk.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="S",
        help="how long a call waits for a decision here before Claude Code asks (default 120)",
    )
    hk.set_defaults(func=cmd_hook)
    add_timetravel_parsers(sub, workspace_arg, drive_args)  # rewind, fork, diff, replay
    add_batch_parsers(sub, workspace_arg)  # batch
    add_inbox_parsers(sub)  # inbox
    return p
