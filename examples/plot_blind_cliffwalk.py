#!/usr/bin/env python3
"""Plot the Blind Cliffwalk runs like figures 1 and 2 of the PER paper (Schaul et al. 2016).

Reads the CSV that `blind_cliffwalk --csv FILE` writes (one row per run) and draws, per
method, the median number of updates against the memory size on log-log axes, with a band
from the fastest to the slowest seed. Runs that hit the update cap are censored: they count as
the cap and are named in the legend. The linear learner's CSV has two more columns: `learner`
(the tabular CSV has none: tabular) and `stalled`, for oracle runs that stopped because no
update lowered the error any more. A stalled run never converges: it counts as infinitely many
updates, so a median it makes infinite is not drawn and a band it tops reaches the plot's top
edge; the legend names how many runs stalled.

    per_example_blind_cliffwalk --max-n 16 --csv docs/blind_cliffwalk.csv
    /usr/bin/python3 examples/plot_blind_cliffwalk.py docs/blind_cliffwalk.csv docs/blind_cliffwalk.png
    per_example_blind_cliffwalk --learner linear --max-n 16 --csv docs/blind_cliffwalk_linear.csv
    /usr/bin/python3 examples/plot_blind_cliffwalk.py docs/blind_cliffwalk_linear.csv \
        docs/blind_cliffwalk_linear.png
"""

import csv
import math
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

LEARNERS = {
    "tabular": "tabular Q-learning",
    "linear": "linear Q-learning",
}


def main(csv_path, png_path):
    runs = defaultdict(lambda: defaultdict(list))  # method -> memory size -> [updates]
    censored = defaultdict(int)
    stalled = defaultdict(int)
    learners = set()
    order = []
    with open(csv_path, newline="") as file:
        for row in csv.DictReader(file):
            method = row["method"]
            if method not in order:
                order.append(method)
            learners.add(row.get("learner", "tabular"))
            if row.get("stalled", "0") == "1":
                updates = math.inf
                stalled[method] += 1
            else:
                updates = int(row["updates"])
                censored[method] += row["converged"] != "1"
            runs[method][int(row["memory_size"])].append(updates)
    if len(learners) != 1:
        sys.exit(f"{csv_path}: runs of several learners ({', '.join(sorted(learners))})")
    (learner,) = learners

    # Infinite highs (stalled runs) are drawn up to a ceiling above every finite count, which
    # becomes the plot's top edge.
    finite = [
        updates
        for by_size in runs.values()
        for seeds in by_size.values()
        for updates in seeds
        if math.isfinite(updates)
    ]
    ceiling = 2 * max(finite)
    figure, axes = plt.subplots(figsize=(7, 5))
    for method in order:
        sizes = sorted(runs[method])
        medians = [statistics.median(runs[method][size]) for size in sizes]
        lows = [min(runs[method][size]) for size in sizes]
        highs = [min(max(runs[method][size]), ceiling) for size in sizes]
        label = LABELS.get(method, method)
        if censored[method]:
            label += f" ({censored[method]} runs censored)"
        if stalled[method]:
            label += f" ({stalled[method]} runs stalled)"
        drawn = [(size, median) for size, median in zip(sizes, medians) if math.isfinite(median)]
        (line,) = axes.plot(
            [size for size, _ in drawn],
            [median for _, median in drawn],
            marker="o",
            markersize=3,
            label=label,
        )
        # Sizes where every seed stalled have no band.
        banded = [
            (size, low, high)
            for size, low, high in zip(sizes, lows, highs)
            if math.isfinite(low)
        ]
        axes.fill_between(
            [size for size, _, _ in banded],
            [low for _, low, _ in banded],
            [high for _, _, high in banded],
            color=line.get_color(),
            alpha=0.15,
            linewidth=0,
        )

    seeds = len(next(iter(runs[order[0]].values())))
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    if any(stalled.values()):
        axes.set_ylim(top=ceiling)
    axes.set_xlabel("memory size (transitions)")
    axes.set_ylabel("updates until MSE(Q, Q*) < 1e-3")
    learner_name = LEARNERS.get(learner, learner)
    axes.set_title(f"Blind Cliffwalk, {learner_name}: median and min-max of {seeds} seeds")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    print(f"wrote {png_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} RUNS.csv PLOT.png")
    main(sys.argv[1], sys.argv[2])
