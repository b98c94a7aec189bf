"""One module per Lookout dashboard; each has a ``board()`` returning its JSON model."""
