"""Errors probes raise on purpose (bad arguments, unknown terms): the CLI prints the message."""


class ProbeError(ValueError):
    """A probe or stimulus request that cannot be satisfied as asked."""
