"""The outbox: every outgoing text is a row written with its cause, then delivered."""
