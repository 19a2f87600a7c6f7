"""The offline demo: bundled scenarios on the scripted runtime, real tools, a local web page."""
