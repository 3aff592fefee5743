"""Errors interp raises on purpose: the CLI prints their message, never a traceback."""


class InterpError(Exception):
    """Base class: a user-facing problem with a model spec, a site, a request or an input."""


class ModelSpecError(InterpError):
    """A model spec that cannot be resolved (unknown name, missing checkpoint, absent pretrained cache)."""


class SiteError(InterpError, KeyError):
    """An unknown site, or a reduction that a site cannot give."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StimulusError(InterpError):
    """A stimulus source that cannot be read (missing folder, unreadable image, bad captions file)."""
