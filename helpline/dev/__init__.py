"""Development-only pages: a text simulator and the loopback outbox (never in production)."""
