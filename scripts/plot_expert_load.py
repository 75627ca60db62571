#!/usr/bin/env python3
"""Heat map of the expert load in an `mhmoe-run --stats` file (docs/stats.md).

  plot_expert_load.py STATS.json OUT.png [--title TEXT]

Each row is a layer, each column an expert; the colour is the expert's load divided by the load a
uniform router would give it (S * top_k / E, taken as sum(expert_load) / E plus the drops), so 1.0 is
balanced, 0 an idle expert. The right margin gives each layer's activation ratio and dropped pairs.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_stats(path):
    with open(path) as f:
        stats = json.load(f)
    layers = stats.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("%s: no 'layers' list" % path)
    rows = []
    for entry in layers:
        load = entry["expert_load"]
        if not load or any((not isinstance(v, int)) or v < 0 for v in load):
            raise ValueError("%s: layer %s: 'expert_load' must be non-negative integers"
                             % (path, entry.get("layer")))
        rows.append(entry)
    if len({len(r["expert_load"]) for r in rows}) != 1:
        raise ValueError("%s: layers have different numbers of experts" % path)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stats")
    p.add_argument("out")
    p.add_argument("--title", default="")
    a = p.parse_args(argv)
    try:
        rows = load_stats(a.stats)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print("plot_expert_load: error: %s" % e, file=sys.stderr)
        return 2
    rel = []
    for r in rows:
        load = r["expert_load"]
        uniform = (sum(load) + r.get("dropped", 0)) / len(load)
        rel.append([v / uniform if uniform else 0.0 for v in load])
    experts = len(rel[0])
    fig, ax = plt.subplots(figsize=(max(6, experts * 0.25 + 3), max(2.5, len(rel) * 0.4 + 1.5)))
    im = ax.imshow(rel, aspect="auto", cmap="viridis", vmin=0)
    ax.set_xlabel("expert")
    ax.set_ylabel("layer")
    ax.set_yticks(range(len(rel)))
    ax.set_yticklabels(["%d  (%.0f%%, %d dropped)" % (r["layer"], 100 * r["activation_ratio"],
                                                   r["dropped"]) for r in rows])
    fig.colorbar(im, ax=ax, label="load / uniform load")
    ax.set_title(a.title or "expert load (%s)" % os.path.basename(a.stats))
    fig.tight_layout()
    fig.savefig(a.out, dpi=120, format="png")  # the name may be a temporary without .png
    return 0


if __name__ == "__main__":
    sys.exit(main())
