"""Metrics, traces and logs that never carry personal information."""
