"""Edit a pending step's inputs as YAML, checked against the tool's schema before it is accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static, TextArea

from llmos_tui.core.errors import FileFormatError
from llmos_tui.core.frontmatter import dump_yaml, load_yaml
from llmos_tui.core.state import as_json, json_problem
from llmos_tui.tui.screens.modals import Dialog


class EditStep(Dialog[dict[str, Any] | None]):
    """Returns the new inputs, or None when cancelled. Bad YAML or inputs stay here, with the reason."""

    DEFAULT_CSS = """
    EditStep > Vertical { width: 100; }
    EditStep TextArea { height: 16; }
    EditStep.-short TextArea { height: 12; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True), Binding("ctrl+s", "save", "Save", priority=True)]

    def __init__(self, n: int, tool: str, inputs: dict[str, Any], validate: Callable[[str, Any], str | None]) -> None:
        super().__init__()
        self.n, self.tool, self.inputs, self.validate = n, tool, inputs, validate

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Edit step {self.n} · {self.tool} — inputs as YAML", classes="title")
            yield TextArea(dump_yaml(self.inputs), language="yaml", id="yaml", tab_behavior="indent")
            yield Static("", classes="error", id="error")
            with Horizontal():
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")
            yield Static("The step stays waiting: approve it with a after saving.", classes="hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def check(self, text: str) -> tuple[dict[str, Any] | None, str | None]:
        try:  # bounded: no anchors or aliases (a few lines of them expand to gigabytes), no deep nesting
            data = load_yaml(text, "inputs", aliases=False)
        except FileFormatError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            return None, f"Not valid YAML — {where}{exc.problem.removeprefix('invalid YAML: ')}"
        if not isinstance(data, dict):
            return None, "The inputs must be a mapping of parameter: value lines."
        unfit = json_problem(data, "inputs")
        if unfit:
            return None, f"These inputs cannot be sent: {unfit}"
        data = as_json(data)  # dates as text, as the journal will hold them
        problem = self.validate(self.tool, data)
        if problem:
            return None, f"These inputs do not fit {self.tool}: {problem}"
        return data, None

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        data, problem = self.check(text)
        if problem:
            self.query_one("#error", Static).update(problem)  # nothing lost: the text stays as typed
            return
        self.dismiss(data)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()
