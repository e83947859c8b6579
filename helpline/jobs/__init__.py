"""Durable timers: work with a due time that survives restarts and runs once."""
