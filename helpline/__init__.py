"""Helpline: backend for a confidential chat-and-SMS support line for young people at risk."""

__version__ = "0.1.0"
