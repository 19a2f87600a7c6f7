"""Claude Code's tools, with its names and parameter names, confined to the workspace."""
