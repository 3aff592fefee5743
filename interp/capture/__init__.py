"""Capture: requests, on-device reductions, hooked forward passes, and the streaming pipeline (floor 2)."""
from .engine import capture_batch
from .pipeline import CaptureResult, capture
from .request import CaptureRequest
from .sources import folder_source, resolve_source

__all__ = ["capture", "capture_batch", "CaptureRequest", "CaptureResult", "folder_source",
           "resolve_source"]
