"""Credential strategies: each adds authentication to an upstream request, off the event loop
when that takes I/O (token minting, credential refresh)."""
