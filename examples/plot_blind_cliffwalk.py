#!/usr/bin/env python3
"""Plot the Blind Cliffwalk runs like figures 1 and 2 of the PER paper (Schaul et al. 2016).

Reads the CSV that `blind_cliffwalk --csv FILE` writes (one row per run) and draws, per
method, the median number of updates against the memory size on log-log axes, with a band
from the fastest to the slowest seed. Runs that hit the update cap are censored: they count as
the cap and are named in the legend.

    per_example_blind_cliffwalk --max-n 16 --csv docs/blind_cliffwalk.csv
    /usr/bin/python3 examples/plot_blind_cliffwalk.py docs/blind_cliffwalk.csv docs/blind_cliffwalk.png
"""

import csv
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt

LABELS = {
    "uniform": "uniform",
    "proportional_0.6": "proportional, α = 0.6",
    "proportional_1": "proportional, α = 1",
    "rank_based_0.7": "rank-based, α = 0.7",
    "greedy_td": "greedy TD-error",
    "oracle": "oracle",
}


def main(csv_path, png_path):
    runs = defaultdict(lambda: defaultdict(list))  # method -> memory size -> [updates]
    censored = defaultdict(int)
    order = []
    with open(csv_path, newline="") as file:
        for row in csv.DictReader(file):
            method = row["method"]
            if method not in order:
                order.append(method)
            runs[method][int(row["memory_size"])].append(int(row["updates"]))
            censored[method] += row["converged"] != "1"

    figure, axes = plt.subplots(figsize=(7, 5))
    for method in order:
        sizes = sorted(runs[method])
        medians = [statistics.median(runs[method][size]) for size in sizes]
        lows = [min(runs[method][size]) for size in sizes]
        highs = [max(runs[method][size]) for size in sizes]
        label = LABELS.get(method, method)
        if censored[method]:
            label += f" ({censored[method]} runs censored)"
        (line,) = axes.plot(sizes, medians, marker="o", markersize=3, label=label)
        axes.fill_between(sizes, lows, highs, color=line.get_color(), alpha=0.15, linewidth=0)

    seeds = len(next(iter(runs[order[0]].values())))
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("memory size (transitions)")
    axes.set_ylabel("updates until MSE(Q, Q*) < 1e-3")
    axes.set_title(f"Blind Cliffwalk, tabular Q-learning: median and min-max of {seeds} seeds")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    print(f"wrote {png_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} RUNS.csv PLOT.png")
    main(sys.argv[1], sys.argv[2])
