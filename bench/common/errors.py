"""The one error a benchmark raises when a measurement cannot be made."""


class BenchError(RuntimeError):
    """A measurement failed (a child did not start or finish, a check did not hold)."""
