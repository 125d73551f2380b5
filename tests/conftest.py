"""Shared pytest setup: unit tests never reach the network or the user's home."""
