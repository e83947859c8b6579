"""Tests for triage flow files, their checker and the flow engine."""
