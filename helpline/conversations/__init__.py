"""Contacts, conversations and messages: the anonymised contact log."""
