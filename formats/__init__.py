"""Wire formats: one pure parser per format.

Importing the package first decides whether its compiled parser (``formats.telegraf_json``, see
``app/native.py``) or the Python source runs, as ``tables`` does for the window core.
"""

from app import native as _native

_native.activate()
