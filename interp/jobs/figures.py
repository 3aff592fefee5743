"""Saving figures, once for the whole toolkit. A figure never crashes the command whose numbers it shows: a
drawing error is reported on stderr and the figure is left out (the numbers are already written)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np


def save_figure(path: Path, draw: Callable[[object], None], size: tuple[float, float] = (8, 4.5),
                dpi: int = 110) -> Optional[Path]:
    """Draw into a fresh matplotlib figure and save it as PNG at `path`; None (and a warning) if drawing fails."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size)
    try:
        draw(fig)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
        return path
    except Exception as exc:  # a figure is a view of numbers already written: never lose them to it
        print(f"clip-interp: warning: figure {path.name} not drawn ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    finally:
        plt.close(fig)


HIST_COLUMNS = 4


def histogram_size(n_metrics: int) -> tuple[float, float]:
    """Figure size for `control_histograms` of n metrics (3.6 inches a panel, four to a row)."""
    cols = min(HIST_COLUMNS, max(1, n_metrics))
    return 3.6 * cols, 3.6 * -(-n_metrics // cols)


def control_histograms(fig, effects: dict[str, dict], random_effects: dict[str, np.ndarray], metrics: Sequence[str],
                       tests: dict[str, dict], xlabel: str = "change under the intervention") -> None:
    """One panel per metric (four to a row): the random control sets' effects (histogram), the target's effect and
    its CI."""
    cols = min(HIST_COLUMNS, max(1, len(metrics)))
    rows = -(-len(metrics) // cols)
    for i, k in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, i + 1)
        r = np.asarray(random_effects[k], float)
        ax.hist(r, bins=min(30, max(5, len(r) // 5)), color="lightgray", edgecolor="gray",
                label=f"control sets (n={len(r)})")
        e = effects[k]
        ax.axvline(e["value"], color="crimson", lw=2, label="target")
        ax.errorbar([e["value"]], [ax.get_ylim()[1] * 0.9], xerr=[[max(0.0, e["value"] - e["lo"])], [max(0.0, e["hi"] - e["value"])]],
                    color="crimson", capsize=4, fmt="none", label="target 95% CI")
        ax.set_title(f"{k}\n{tests[k]['display'].split(';')[0]}", fontsize=8)
        ax.set_xlabel(xlabel, fontsize=8)
        if i == 0:
            ax.legend(fontsize=7)


def dose_response(fig, dose: list[dict], metrics: Sequence[str]) -> None:
    """Effect of intervening on the top-k target units against the band of matched control sets of size k."""
    ax = fig.add_subplot(1, 1, 1)
    ks = [r["k"] for r in dose]
    colours = ("crimson", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")
    for k, c in zip(metrics, colours * (1 + len(metrics) // len(colours))):
        ax.plot(ks, [r[f"effect_{k}"] for r in dose], "o-", color=c, label=k)
        lo = [np.quantile(r[f"random_{k}"], 0.025) if r[f"random_{k}"] else np.nan for r in dose]
        hi = [np.quantile(r[f"random_{k}"], 0.975) if r[f"random_{k}"] else np.nan for r in dose]
        ax.fill_between(ks, lo, hi, color=c, alpha=0.12)
    ax.set_xscale("log")
    ax.set_xlabel("units intervened on (top-k by selectivity)")
    ax.set_ylabel("change")
    ax.legend(fontsize=7)
