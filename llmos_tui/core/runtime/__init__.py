"""Runtimes produce the model's turns; the runner treats every runtime's turns the same way."""
