"""What every benchmark (and the tests that start real processes) shares: child processes,
databases, the machine's description and load, and statistics."""
