"""The one registry of jobs: every probe, analysis, experiment and artefact of the toolkit is declared here once.

A `Job` says what it is called, what it needs, which options change its result, how to run it (files out, a JSON
result back), how to state its finding in one sentence, and how to render its section of the report. The CLI's
job commands, the main job's stages (in registration order, keyed by a hash of their inputs) and the HTML report
are all generated from `JOBS`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from probes.stats import n_text

from ..errors import InterpError

Kind = Literal["probe", "analysis", "experiment", "artefact"]


@dataclass
class Context:
    """What a job runs with: the model (loaded on first use), the report folder, the run's options, and the
    results of the jobs it needs."""

    spec: str
    out: Path
    device: str = "cpu"
    n: Optional[int] = None
    controls: int = 200
    progress: bool = True
    seed: int = 0
    results: dict[str, dict] = field(default_factory=dict)
    _lm: Any = None

    @property
    def lm(self):
        """The loaded model."""
        if self._lm is None:
            from ..models import load_model

            self._lm = load_model(self.spec, device=self.device)
        return self._lm

    def folder(self, job: str) -> Path:
        """The job's own output folder (created)."""
        p = self.out / job
        p.mkdir(parents=True, exist_ok=True)
        return p


@dataclass
class Figure:
    """A figure file (relative to the report folder) and the caption a reader sees under it."""

    path: str
    caption: str


@dataclass
class Rendered:
    """A job's section of the report: paragraphs, tables (header + rows of cells) and captioned figures."""

    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)  # (caption, header, rows)
    figures: list[Figure] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, href relative to the report folder)


@dataclass(frozen=True)
class Job:
    """One unit of work of the toolkit, declared once."""

    name: str
    kind: Kind
    title: str
    run: Callable[[Context], dict]
    summary: Callable[[dict], str]
    render: Callable[[dict], Rendered]
    needs: tuple[str, ...] = ()
    options: tuple[str, ...] = ()  # Context fields that change the result (part of the stage key)
    in_main: bool = True
    description: str = ""
    fingerprint: str = ""  # hash of code outside the toolkit's packages that the job runs (e.g. a user's probe)


JOBS: dict[str, Job] = {}
# Jobs generated from another registry (one per registered probe) are read at call time, so a probe registered
# after this module was imported still becomes a stage of the main job and a section of the report.
DERIVED: list[Callable[[], list[Job]]] = []


def register(job: Job) -> Job:
    """Add a job; its name must be new and everything it needs must already be registered."""
    if job.name in all_jobs():
        raise InterpError(f"job {job.name!r} is registered twice")
    missing = [n for n in job.needs if n not in all_jobs()]
    if missing:
        raise InterpError(f"job {job.name!r} needs {', '.join(missing)}, which are not registered before it")
    JOBS[job.name] = job
    return job


def all_jobs() -> dict[str, Job]:
    """Every job by name: derived jobs (probes) first, then the registered ones in registration order."""
    out: dict[str, Job] = {}
    for source in DERIVED:
        out.update({j.name: j for j in source()})
    out.update(JOBS)
    return out


def jobs(kind: Optional[Kind] = None) -> list[Job]:
    """Jobs in stage order (which respects `needs`), optionally of one kind."""
    return [j for j in all_jobs().values() if kind is None or j.kind == kind]


@dataclass(frozen=True)
class Command:
    """A CLI subcommand: its name, help line, how it adds its arguments and what it runs."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(cmd: Command) -> Command:
    """Add a CLI subcommand."""
    if cmd.name in COMMANDS:
        raise InterpError(f"command {cmd.name!r} is registered twice")
    COMMANDS[cmd.name] = cmd
    return cmd


def table_of_estimates(metrics: dict[str, dict], caption: str) -> tuple[str, list[str], list[list[str]]]:
    """A report table of named estimates: metric, value, 95% CI, n."""
    rows = [[k, f"{v['value']:.3f}", f"[{v['lo']:.3f}, {v['hi']:.3f}]", n_text(v)[2:]] for k, v in metrics.items()]
    return caption, ["metric", "value", "95% CI", "n"], rows
