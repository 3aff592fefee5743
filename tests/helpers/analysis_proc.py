"""Repeated census write-backs into one store, printing each phase, for the analysis SIGKILL test.

Version g of the census is self-describing: every array holds g, its length is BASE + g, the thresholds and
parameters say g. A reader that sees any mix of two versions sees a mismatch.
"""
import sys

import numpy as np

from activations_store import ActivationStore, CensusRecord

BASE = 60_000


def version(g: int) -> CensusRecord:
    """Census version g."""
    m = BASE + g
    return CensusRecord("cls", np.full(m, f"visual.blocks.{g}.mlp.post"), np.arange(m),
                        {"clsi": np.full(m, float(g)), "q_colour": np.full(m, g / 1000.0), "colour_selective": np.full(m, g % 2 == 0),
                         "class": np.full(m, f"class-{g}", dtype=object)},
                        {"colour": float(g), "text": -float(g)}, {"alpha": 0.05, "gen": g})


if __name__ == "__main__":
    path, count = sys.argv[1], int(sys.argv[2])
    with ActivationStore(path, mode="a") as st:
        g = st.read_census("cls").params["gen"] if any(a.name == "census_cls" for a in st.analyses()) else 0
        print(f"start {g}", flush=True)
        for _ in range(count):
            g += 1
            print(f"writing {g}", flush=True)
            st.write_census(version(g))
            print(f"committed {g}", flush=True)
    print("done", flush=True)
