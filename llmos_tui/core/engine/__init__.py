"""The engine: recording, the gate, commands, opening runs, the driving loop and sub-agents."""
