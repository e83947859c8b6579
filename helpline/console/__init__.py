"""The operator console: sign-in and the APIs volunteers, supervisors and managers use."""
