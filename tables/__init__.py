"""Lookout's window state: the engine, its aggregates, durability and reads.

Importing the package first decides which window core runs: the modules compiled by the native
build when it matches the sources, else the Python sources (``app/native.py``).
"""

from app import native as _native

_native.activate()
