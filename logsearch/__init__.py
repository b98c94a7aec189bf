"""Log search, statistics and tail filtering (pure: parameters, cursors, query bodies)."""
