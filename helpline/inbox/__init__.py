"""The inbox: what arrived, committed before the webhook answers, then processed in order."""
