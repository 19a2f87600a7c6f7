"""llmos-tui: LLM-OS agents whose whole state lives in plain files you can watch, steer and learn from."""

__version__ = "0.1.0"
