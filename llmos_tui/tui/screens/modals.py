"""Small modal screens: a line of text (goal, deny reason), a yes/no question, a call's details."""

from __future__ import annotations

from typing import Any, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A box in the middle of the dimmed run: a bold title, a hint line, an error line, buttons on
    the right. Every dialog here is one; subclasses add only what differs.

    Below 30 rows (`-short`, set by Textual as the terminal resizes) the box loses its padding and
    blank lines, so at 80×24 the buttons and the hint stay on screen."""

    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    DEFAULT_CSS = """
    Dialog { align: center middle; background: $background 60%; }
    Dialog > Vertical { width: 84; max-width: 95%; height: auto; max-height: 90%; border: thick $accent;
                        background: $surface; padding: 1 2; }
    Dialog .title { text-style: bold; margin-bottom: 1; width: 100%; }
    Dialog .hint { color: $text-muted; margin-top: 1; }
    Dialog .error { color: $error; text-style: bold; height: auto; }
    Dialog Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    Dialog Button { margin-left: 2; }
    Dialog.-short > Vertical { max-height: 100%; padding: 0 1; }
    Dialog.-short .title { margin-bottom: 0; }
    Dialog.-short .hint { margin-top: 0; }
    Dialog.-short Horizontal { margin-top: 0; }
    """


class AskText(Dialog[str | None]):
    """Ask for one line of text; Enter answers, Escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, *, placeholder: str = "", value: str = "", hint: str = "", allow_empty: bool = True
    ) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.hint = hint
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield Input(value=self.value, placeholder=self.placeholder, id="answer")
            yield Static("", classes="error", id="error")
            yield Static(self.hint or "Enter to confirm · Escape to cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text and not self.allow_empty:
            self.query_one("#error", Static).update("Please type something first.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(Dialog[bool]):
    BINDINGS = [
        Binding("escape", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.detail, self.yes, self.no = question, detail, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            if self.detail:
                yield Static(self.detail)
            with Horizontal():
                yield Button(f"{self.no} (n)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class StepDetail(Dialog[None]):
    """A call's full inputs and output."""

    DEFAULT_CSS = """
    StepDetail VerticalScroll { height: auto; max-height: 30; }
    StepDetail.-short VerticalScroll { max-height: 17; }
    """
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, inputs: dict[str, Any], output: object, extra: str = "") -> None:
        super().__init__()
        self.title_text, self.inputs, self.output, self.extra = title, inputs, output, extra

    def compose(self) -> ComposeResult:
        from llmos_tui.core.frontmatter import dump_yaml

        if isinstance(self.output, list):
            out = "\n".join(b.get("text", f"[{b.get('type')} block]") for b in self.output if isinstance(b, dict))
        elif self.output is None:
            out = "(no result yet)"
        else:
            out = str(self.output)
        with Vertical():
            yield Label(self.title_text, classes="title")
            with VerticalScroll():
                yield Static("[b]Inputs[/b]")
                yield Static(dump_yaml(self.inputs).rstrip(), markup=False)
                yield Static("\n[b]Result[/b]")
                yield Static(out[:20000], markup=False)
                if self.extra:
                    yield Static("\n" + self.extra, markup=False)
            yield Static("Escape to close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class ForkDialog(Dialog[str | None]):
    """Fork a run at a step: optional feedback for the model (it denies the step with that reason;
    empty, the step waits for a decision in the fork). Returns the feedback ("" for none), or None
    when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, detail: str) -> None:
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, classes="title")
            yield Static(self.detail)
            yield Input(placeholder="feedback for the model (optional): e.g. write to notes/ instead", id="answer")
            with Horizontal():
                yield Button("Cancel (esc)", id="no")
                yield Button("Fork (enter)", id="yes", variant="primary")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.dismiss(self.query_one(Input).value.strip())
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
