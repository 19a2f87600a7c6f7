"""The engine: state machine, journal, control channel, tools and runtimes.

Nothing under this package imports Textual (a test enforces it), so the TUI, the headless CLI
and the watcher are three faces on one core.
"""
