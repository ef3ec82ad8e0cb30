#!/usr/bin/env python3
"""Plot the CartPole DQN learning curves: uniform replay vs prioritized replay.

Reads the CSV that `cartpole_dqn --csv FILE` writes (one row per training episode) and draws,
per method, the mean over seeds of the 20-episode moving average of the return against
environment steps, with its 95% confidence interval (Student's t, as the program prints it).

    per_example_cartpole_dqn --csv docs/cartpole_dqn.csv
    /usr/bin/python3 examples/plot_cartpole_dqn.py docs/cartpole_dqn.csv docs/cartpole_dqn.png
    per_example_cartpole_dqn --reward failure --csv docs/cartpole_dqn_failure.csv
    /usr/bin/python3 examples/plot_cartpole_dqn.py docs/cartpole_dqn_failure.csv \
        docs/cartpole_dqn_failure.png "CartPole, failure reward (-1 at the end, else 0): 95% CI"
"""

import bisect
import csv
import math
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


def student_t_quantile(p, df):
    """The p-quantile (p >= 0.5) of Student's t: Simpson's rule on the density, bisection."""
    scale = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def density(t):
        return scale * (1 + t * t / df) ** (-(df + 1) / 2)

    def cdf(x, intervals=2000):
        h = x / intervals
        total = density(0) + density(x)
        total += sum((4 if i % 2 else 2) * density(i * h) for i in range(1, intervals))
        return 0.5 + total * h / 3

    low, high = 0.0, 100.0
    for _ in range(60):
        middle = (low + high) / 2
        if cdf(middle) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def mean_interval(values, t):
    """Mean and its confidence interval, mean -+ t sd / sqrt(k)."""
    k = len(values)
    mean = sum(values) / k
    if k < 2:
        return mean, mean, mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (k - 1))
    half = t * sd / math.sqrt(k)
    return mean, mean - half, mean + half


def main(csv_path, png_path, title):
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
        t = student_t_quantile(0.975, len(curves) - 1) if len(curves) > 1 else 0.0
        bands = [mean_interval(values, t) for values in zip(*curves)]
        mean = [band[0] for band in bands]
        low = [band[1] for band in bands]
        high = [band[2] for band in bands]
        (line,) = axes.plot(steps, mean, label=f"{LABELS.get(method, method)}, {len(curves)} seeds")
        axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.15, linewidth=0)

    axes.axhline(475, color="gray", linestyle="--", linewidth=1, label="solved (475)")
    axes.set_xlabel("environment steps")
    axes.set_ylabel(f"return, mean of the last {WINDOW} episodes")
    axes.set_ylim(0, 510)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    print(f"wrote {png_path}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: {sys.argv[0]} EPISODES.csv PLOT.png [TITLE]")
    default_title = "CartPole-v1, Double DQN: mean over seeds, 95% confidence interval"
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else default_title)
