"""Aggregate statistics for managers: metadata only, never content, never one child."""
