"""Fakes of outside services that run for real on loopback (never mocks of our own code)."""
