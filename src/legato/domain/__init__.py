"""Pure values and rules: no I/O, no threads, no SQL."""
