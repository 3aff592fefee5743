"""Captures the main job makes: resume a store that an interrupted run of the same stage left, start afresh when the
stage's inputs changed (a store made for another stimulus set or request cannot be resumed)."""
from __future__ import annotations

from pathlib import Path

from activations_store import StoreMismatchError


def capture_fresh_or_resume(lm, stimuli, request, store: Path, progress: bool):
    """Capture into `store`, resuming it when it was made for these stimuli and this request, else replacing it."""
    from ..capture import capture

    if store.exists():
        try:
            return capture(lm, stimuli, request, store, resume=True, progress=progress)
        except StoreMismatchError:
            store.unlink()  # the stage's inputs changed, so its old store is stale by definition
    return capture(lm, stimuli, request, store, resume=False, progress=progress)
