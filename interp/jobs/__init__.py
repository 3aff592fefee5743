"""The jobs wing (floor 4): one module per command — probe, census, attention, ablate, atlas, run — each taking a
store path or model spec in and writing files out, plus the figures module and the report. Importing this package
registers every job and command, in stage order."""
from . import probe, census, attention, ablate, atlas, compare, tools, run  # noqa: F401  (registration order = stage order)
from .registry import COMMANDS, JOBS, Command, Context, Figure, Job, Rendered, all_jobs, command, jobs, register

__all__ = ["COMMANDS", "JOBS", "Command", "Context", "Figure", "Job", "Rendered", "all_jobs", "command", "jobs", "register"]
