"""Routing: opening hours, the queue, the rota, urgent alerts and escalation."""
