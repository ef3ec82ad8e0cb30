#!/usr/bin/env python3
"""Plot the CartPole DQN learning curves: uniform replay vs prioritized replay.

Reads the CSV that `cartpole_dqn --csv FILE` writes (one row per training episode) and draws,
per method, the mean over seeds of the 20-episode moving average of the return against
environment steps, with a band from the worst to the best seed.

    per_example_cartpole_dqn --csv docs/cartpole_dqn.csv
    /usr/bin/python3 examples/plot_cartpole_dqn.py docs/cartpole_dqn.csv docs/cartpole_dqn.png
"""

import bisect
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt

WINDOW = 20  # episodes in the moving average, as in the program's "solved" criterion
LABELS = {"uniform": "uniform replay (α = 0)", "per": "prioritized replay (α = 0.6, β 0.4 → 1)"}


def moving_average_at(end_steps, returns, step):
    """Mean return of the (up to) WINDOW episodes that ended by `step`; 0 before the first."""
    ended = bisect.bisect_right(end_steps, step)
    if ended == 0:
        return 0.0
    recent = returns[max(0, ended - WINDOW) : ended]
    return sum(recent) / len(recent)


def main(csv_path, png_path):
    episodes = defaultdict(lambda: defaultdict(lambda: ([], [])))  # method -> seed -> (ends, returns)
    order = []
    last_step = 0
    with open(csv_path, newline="") as file:
        for row in csv.DictReader(file):
            if row["method"] not in order:
                order.append(row["method"])
            ends, returns = episodes[row["method"]][int(row["seed"])]
            ends.append(int(row["end_step"]))
            returns.append(float(row["return"]))
            last_step = max(last_step, int(row["end_step"]))

    steps = list(range(0, last_step + 1, max(1, last_step // 200)))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method in order:
        curves = [
            [moving_average_at(ends, returns, step) for step in steps]
            for ends, returns in episodes[method].values()
        ]
        mean = [sum(values) / len(values) for values in zip(*curves)]
        low = [min(values) for values in zip(*curves)]
        high = [max(values) for values in zip(*curves)]
        (line,) = axes.plot(steps, mean, label=f"{LABELS.get(method, method)}, {len(curves)} seeds")
        axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.15, linewidth=0)

    axes.axhline(475, color="gray", linestyle="--", linewidth=1, label="solved (475)")
    axes.set_xlabel("environment steps")
    axes.set_ylabel(f"return, mean of the last {WINDOW} episodes")
    axes.set_ylim(0, 510)
    axes.set_title("CartPole-v1, Double DQN: mean and min-max over seeds")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    print(f"wrote {png_path}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} EPISODES.csv PLOT.png")
    main(sys.argv[1], sys.argv[2])
