"""Lookout."""
