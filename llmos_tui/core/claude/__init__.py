"""Everything Claude Code: the runtime and SDK driver, the hook driver, settings, transcripts."""
