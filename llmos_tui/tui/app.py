"""The llmos-tui app: themes, the command palette, settings — and the run screen it shows.

What is on screen and every key that steers the run live in `screens/run.py`; this module keeps
what belongs to the whole app, and the names the CLI and tests reach for (`app.ledger`, …).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from textual.app import App, SystemCommand
from textual.screen import Screen

from llmos_tui.core.errors import LlmosError
from llmos_tui.core.source import FollowedRun
from llmos_tui.core.text import age, plural
from llmos_tui.core.workspace import Workspace
from llmos_tui.tui.screens.run import RUN_ACTIONS, RunScreen
from llmos_tui.tui.settings import AppSettings
from llmos_tui.tui.themes import DEFAULT_THEME, load_themes, remember_theme, remembered_theme

if TYPE_CHECKING:
    from llmos_tui.core.ledger import Ledger
    from llmos_tui.core.runner import Runner
    from llmos_tui.tui.screens.inbox import InboxScreen

__all__ = ["AppSettings", "LlmosApp"]  # AppSettings lives in tui.settings; the CLI and tests import it here


class LlmosApp(App[None]):
    TITLE = "llmos-tui"
    ENABLE_COMMAND_PALETTE = True
    DEFAULT_MODE = "run"  # a mode, not get_default_screen: a mode's screen brings its own .tcss

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.settings = settings
        self.ws = Workspace.locate(settings.workspace)
        self._theme_names: list[str] = []
        self._theme_problem = self._choose_theme()
        # kept here, not only on the screen stack: the CLI reads the run's outcome after exit
        self.run_screen = RunScreen(settings, self.ws)
        # `llmos-tui inbox` opens on the inbox; a run opened from it is shown over it
        self.inbox_screen: InboxScreen | None = None
        self._background: dict[tuple[str, str], str] = {}  # runs driven while the inbox is shown
        if settings.inbox is not None:  # (imported here: the inbox costs the run screen's first frame ~30 ms)
            from llmos_tui.tui.screens.inbox import InboxScreen

            self.inbox_screen = InboxScreen(settings)
        first: Screen[None] = self.inbox_screen or self.run_screen
        self.add_mode("run", lambda: first)

    def _choose_theme(self) -> str | None:
        """Register themes/*.yaml and pick the theme before the first frame (no re-style after)."""
        skipped: list[str] = []  # a theme file that does not load is skipped, and said why
        for theme in load_themes(problems=skipped):
            self.register_theme(theme)
            self._theme_names.append(theme.name)
        wanted = self.settings.theme or remembered_theme() or DEFAULT_THEME
        problem = None
        if wanted not in self.available_themes:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
            problem = f"No theme {wanted!r}; using {fallback}. Themes: {', '.join(self._theme_names)}"
            wanted = fallback
        self.theme = wanted
        if self.settings.theme and problem is None:
            remember_theme(wanted)  # --theme is remembered too
        return "\n".join([*skipped, problem] if problem else skipped) or None

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """`$pane-border`, an unfocused pane's border, when a theme does not set it: a shade off the
        panel colour towards the foreground (lighter on a dark theme, darker on a light one), so it
        stays visible on the background — and apart from it in 256 colours too."""
        theme = self.current_theme
        colours = theme.to_color_system().generate()
        return {"pane-border": colours["panel-lighten-2" if theme.dark else "panel-darken-3"]}

    def on_mount(self) -> None:
        if self._theme_problem:
            self.notify(self._theme_problem, severity="warning", timeout=8)

    def on_inbox_screen_open_run(self, message: Any) -> None:
        """InboxScreen.OpenRun: the run's own screen over the inbox (by name: the inbox is imported
        lazily) — the one still driving it in the background, if this app took it over before."""
        from llmos_tui.tui.screens.inbox import RunFromInbox

        name = self._background.get((str(message.ws.root), message.run_id))
        if name is not None and self.is_screen_installed(name):
            self.run_screen = cast(RunScreen, self.get_screen(name))
            self.push_screen(name)
            return
        self.run_screen = RunFromInbox(self.settings, message.ws, message.run_id)
        self.push_screen(self.run_screen)

    # runs taken over from the inbox that go on while the inbox is shown: (workspace, run) → the
    # name their screen is installed under (installed screens are not removed when popped)

    def keep_driving(self, screen: RunScreen) -> None:
        key = (str(screen.ws.root), getattr(screen, "run_to_open", "") or "")
        name = f"driven:{key[0]}:{key[1]}"
        if not self.is_screen_installed(screen):
            self.install_screen(screen, name)
        self._background[key] = name

    def release_driving(self, screen: RunScreen, *, remove: bool = False) -> None:
        for key, name in list(self._background.items()):
            if self.is_screen_installed(name) and self.get_screen(name) is screen:
                del self._background[key]
                self.uninstall_screen(name)
                if remove and screen.is_attached and not any(screen in st for st in self._screen_stacks.values()):
                    screen.remove()

    def background_drivers(self) -> list[RunScreen]:
        """The run screens that drive a run while not shown."""
        out = []
        for name in self._background.values():
            if self.is_screen_installed(name):
                screen = cast(RunScreen, self.get_screen(name))
                if screen.driving and screen is not self.screen:
                    out.append(screen)
        return out

    # ------------------------------------------------------------------ the run on screen
    # (the run screen owns it; the CLI, tests and benchmarks read it through the app)

    @property
    def ledger(self) -> Ledger | None:
        """The run decided now (a running Task sub-agent's, while one runs)."""
        return self.run_screen.ledger

    @property
    def view(self) -> Ledger | None:
        """The run followed (driven by another process, or by none), if any."""
        return self.run_screen.view

    @property
    def runner(self) -> Runner | None:
        """The Runner this app drives, if any."""
        return self.run_screen.runner

    @property
    def driving(self) -> bool:
        return self.run_screen.driving

    @property
    def remote_driver(self) -> bool:
        """Another process drives the run followed (or a Claude Code session, through its hooks)."""
        source = self.run_screen.source
        return source is not None and not source.here and source.has_driver

    @property
    def _driver_checked(self) -> bool:
        source = self.run_screen.source
        return isinstance(source, FollowedRun) and source.checked

    def _send(self, action: str, **kw: Any) -> None:
        self.run_screen.send(action, **kw)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in RUN_ACTIONS:
            return self.run_screen.check_action(action, parameters)
        return True

    # ------------------------------------------------------------------ palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        run = self.run_screen
        for name in self._theme_names:
            yield SystemCommand(
                f"Theme: {name}", f"Switch to the {name} theme (remembered)", lambda n=name: self._set_theme(n)
            )
        if self.inbox_screen is not None and screen is self.inbox_screen:
            yield from self.inbox_screen.commands()
            return
        for action, title, help_ in (
            ("approve", "Approve step", "Let the pending step run"),
            ("deny", "Deny step", "Refuse the pending step, with a reason for the agent"),
            ("edit", "Edit step", "Change the pending step's inputs (YAML)"),
            ("skip", "Skip step", "Do not run the pending step"),
            ("retry", "Retry", "Run an uncertain step again, or continue after an error"),
            ("pause", "Pause", "Pause the run after the current step"),
            ("resume", "Resume", "Go on with the paused run"),
            ("take_over", "Take over", "Drive the run here: no process drives it now"),
            ("approve_rest", "Approve the rest", "Approve this step and every later one"),
            ("step_over", "Next (step over)", "Approve the waiting step and stop before the next one (n)"),
            ("step_back", "Timeline: back a step", "The run as it was at the selected or previous step ([)"),
            ("step_forward", "Timeline: forward a step", "The next step; past the last, the live run (])"),
            ("live", "Timeline: back to live", "Leave the time-travel view (Esc)"),
            ("rewind", "Rewind to before this step", "Files and run back to before the step shown; undoable (R)"),
            ("fork", "Fork at this step", "A new run sharing this one's history up to the step shown (f)"),
            ("toggle_breakpoint", "Toggle breakpoint", "A breakpoint on the selected call's tool, set or removed (b)"),
            ("new_goal", "New goal", "Start a new run"),
        ):
            if run.check_action(action, ()):
                yield SystemCommand(title, help_, getattr(run, f"action_{action}"))
        if not (self.runner is not None and self.driving):  # while driving, the screen stays on that run
            from llmos_tui.core.session import list_runs

            for r in list_runs(self.ws)[:50]:
                here = " (on screen)" if self.ledger is not None and self.ledger.run_id == r.run_id else ""
                yield SystemCommand(
                    f"Run {r.run_id}: {r.goal[:60] or r.problem or '?'}",
                    f"{r.status} · {plural(r.steps, 'call')} · {r.cost} · {age(r.started_at)}{here}",
                    lambda run_id=r.run_id: run.open_run(run_id),
                )
        led = self.ledger
        if led is not None and led.status == "paused" and self.runner is not None:
            yield SystemCommand(
                "Edit execution_state.md in $EDITOR",
                "Change the plan, variables or the pending step's inputs; taken up on resume",
                self.edit_state_file,
            )

    def _set_theme(self, name: str) -> None:
        self.theme = name
        remember_theme(name)

    def edit_state_file(self) -> None:
        from textual.app import SuspendNotSupported

        from llmos_tui.core.state import StateFile

        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        path = self.ws.state_path
        try:
            with self.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
        except SuspendNotSupported:
            self.notify(
                f"This terminal cannot hand over to an editor; edit {path} elsewhere, then resume.",
                severity="warning",
                timeout=10,
            )
            return
        except OSError as exc:
            self.notify(f"Could not start {editor!r}: {exc}", severity="error", timeout=10)
            return
        try:
            StateFile(path).load()
        except LlmosError as exc:
            self.notify(
                f"{exc} — fix it before resuming; the file is left as you wrote it.", severity="error", timeout=15
            )
            return
        self.notify("execution_state.md is valid; its changes are taken up on resume (p).")
