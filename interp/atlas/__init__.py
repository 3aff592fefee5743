"""Neuron atlas: a static site per model (works from file://, no server) (floor 3)."""
from .build import build_atlas

__all__ = ["build_atlas"]
