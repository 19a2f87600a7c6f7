"""The Textual face of llmos-tui. Everything here is a view on llmos_tui.core."""
