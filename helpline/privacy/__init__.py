"""Privacy by construction: pseudonyms, encryption at rest, address handling."""
