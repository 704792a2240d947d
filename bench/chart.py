"""Draws bench/run.py's results (its JSON) as a PNG: rows/s per measure, Mallard vs reference.

usage: .venv/bin/python bench/chart.py bench/out/e2e.json bench/out/e2e.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = [("get", "GET"), ("put", "PUT"), ("total", "GET+PUT"), ("exchange", "EXCHANGE"),
           ("transfer", "TRANSFER")]


def main(src, dst):
    with open(src) as f:
        res = json.load(f)
    systems = [("mallard", "Mallard (pyarrow client)"), ("reference", "Python reference")]
    if "mallard_cli" in res:
        res["mallard_c"] = res["mallard_cli"]["results"]
        systems.insert(1, ("mallard_c", "Mallard (mallard bench, C client)"))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(systems)
    for i, (key, label) in enumerate(systems):
        vals = [res[key][m]["rows_per_s"] / 1e6 for m, _ in METRICS]
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(METRICS))]
        bars = ax.bar(xs, vals, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(METRICS)), [n for _, n in METRICS])
    ax.set_ylabel("million rows/s (median)")
    ax.set_title(f"{res['rows']:,} flights rows, median of {res['repeat']} ({res['date']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
