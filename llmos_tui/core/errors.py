"""Errors a person sees as one line. Each carries the CLI exit code it maps to."""

from __future__ import annotations


class LlmosError(Exception):
    """A failure worth a one-line message; `exit_code` follows docs/design.md §7.2 (2 = bad usage/input)."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(LlmosError):
    """A file, argument or command that cannot be used as given."""

    exit_code = 2


class FileFormatError(BadInput):
    """A file that does not parse: reported with its path and line, and never overwritten."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem


class IllegalTransition(LlmosError):
    """A status change that the transition table does not allow."""

    exit_code = 2


class WorkspaceLocked(BadInput):
    """Another live process drives this workspace."""
