#!/usr/bin/env python3
"""Turn the JSON of a per benchmark run into docs/benchmarks.md and docs/benchmarks.png.

    python3 benchmarks/make_report.py build/bench/benchmarks/results.json \
        --output-dir build/bench/benchmarks/report [--copy-to docs]

The tables need only the standard library. The plot uses matplotlib when it can be imported
(Debian: python3-matplotlib), else gnuplot; with neither, the report is written without it and
this script says how to get it. It never fails for want of a plotting tool.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

# Display order of the structures.
STRUCTURES = ["naive", "naive_cached", "binary_reference", "sum_tree", "prioritized_replay"]
# Rank-based prioritization has its own tables: its P(i) is another distribution, so its rows
# are compared with its own O(N log N) reference, not with the proportional designs.
RANK_STRUCTURES = ["naive_rank_based", "rank_based"]
FLOOR = "floor"

# The comparisons each table ends with: (library structure, baseline) speedups, and the
# library structure whose distance to the memory floor is shown (sampling tables only).
# Updates and pushes are compared with binary_reference alone: the O(N)-sampling designs
# store a number in O(1) there, and pay for it in every sample.
COMPARISONS = {
    "sample": ([("sum_tree", "naive"), ("sum_tree", "naive_cached"),
                ("sum_tree", "binary_reference")], "sum_tree"),
    "sample_full": ([("prioritized_replay", "naive"),
                     ("prioritized_replay", "binary_reference")], "prioritized_replay"),
    "update": ([("prioritized_replay", "binary_reference"),
                ("sum_tree", "binary_reference")], None),
    "update_batch": ([("prioritized_replay", "binary_reference"),
                      ("sum_tree", "binary_reference")], None),
    "push": ([("prioritized_replay", "binary_reference")], None),
    "push_batch": ([("prioritized_replay", "binary_reference")], None),
    "step": ([("prioritized_replay", "binary_reference"), ("rank_based", "binary_reference")],
             None),
}
# Operations whose tables put the rank-based buffer beside the proportional designs: a training
# step and a batch push cost the same kind of work whatever the priority rule.
MIXED_OPERATIONS = ["step", "push_batch"]
RANK_COMPARISONS = {operation: ([("rank_based", "naive_rank_based")], None)
                    for operation in ["sample", "sample_full", "update", "update_batch", "push"]}

DESCRIPTIONS = {
    "naive": "the tutorial buffer: raw priorities; every sample computes p^alpha for all N, "
    "normalizes, accumulates and searches (`sample`: that core, indices only; "
    "`sample_full`, `update`, `push`: `per::naive_prioritized_replay`)",
    "naive_cached": "p^alpha kept per slot (computed on update); every sample still pays an "
    "O(N) cumulative sum, then one binary search per draw (`benchmarks/reference/`)",
    "binary_reference": "OpenAI baselines' design: binary sum and min segment trees (capacity "
    "rounded to a power of two, 2 x capacity values each), one query descending at a time, "
    "a pow per item for the IS weights (`benchmarks/reference/`)",
    "sum_tree": "`per::sum_tree<double>` (the library's data-structure layer, default fanout): "
    "`find_prefix_batch_unchecked` on the scaled stratified prefixes, as "
    "`prioritized_sampler` does; update = pow + `set` (no min tree, no generations)",
    "prioritized_replay": "`per::prioritized_replay<transition>` with default options "
    "(stratified, global-max IS normalization, double sums): `sample` into a reused "
    "`replay_batch`, `update_priority` / `update_priorities`, `push`",
    "rank_based": "`per::rank_based_replay<transition>` (`prioritized_replay` with "
    "`rank_based_sampler`): rank weights r^-alpha in a sum tree over ranks, the slot of a "
    "rank from a counted B+ tree; alpha 0.7",
    "naive_rank_based": "`per::naive_rank_based_replay`: the tutorial's way, sorting all N "
    "priorities on every sample (rows stop at 2^20, where one sort takes about 0.2 s)",
    "floor": "one read of a random 64-byte line per sampled item from an array as large as "
    "the sum tree's leaves (N doubles = N/8 lines), at the line the same stratified prefix "
    "points to; independent reads, so their misses overlap",
}

MEMORY_NOTES = {
    "naive": "raw priority (8) + generation (4); each sample call allocates 16 more per slot",
    "naive_cached": "p^alpha (8) + cumulative sums (8)",
    "binary_reference": "sum tree + min tree, 2 x 8 bytes each per (power-of-two) slot",
    "sum_tree": "`sum_tree::memory_bytes()`: leaves and inner levels",
    "prioritized_replay": "`prioritized_sampler::memory_bytes()`: sum tree + min tree of the "
    "leaf blocks + raw priority (8) + generation (4)",
    "rank_based": "`rank_based_sampler::memory_bytes()`: B+ tree pools (sized for the worst "
    "case) + rank-weight tree + keys + generations",
    "naive_rank_based": "raw priority (8) + generation (4) + fill stamp; each sample sorts "
    "O(N) more",
}

# Where a structure's index overhead is read, most complete structure first: the naive rows
# of `sample` use the tutorial core alone, `sample_full` the library's naive buffer.
MEMORY_SOURCE_ORDER = ["sample_full", "push", "update", "update_batch", "sample"]

OPERATION_TITLES = {
    "sample": "Sampling a batch, indices only",
    "sample_full": "Full sample: indices, probabilities and importance-sampling weights",
    "update": "Single priority update",
    "push": "Push into a full buffer (overwrites the oldest item)",
    "push_batch": "Batched push with priorities (an actor's batch)",
    "step": "Training step: B/8 pushes, a full sample of B, B priority updates",
}

HEADLINE_N = 1 << 20
HEADLINE_BATCH = 256

# The concurrent rows (bench_concurrent.cpp): concurrent/<design>/<N>/<actors>, one learner
# thread and that many actor threads for a fixed wall time, beside the two loops alone.
CONCURRENT = "concurrent"
CONCURRENT_DESIGNS = ["mutex", "shards_1", "shards_2", "shards_4", "shards_2_ratio", "mutex_paced",
                      "shards_1_paced", "shards_2_paced", "shards_4_paced"]
SOLO_LEARNER = "solo_learner"
SOLO_ACTOR = "solo_actor"
CONCURRENT_BASELINE = "mutex"
# <design>_paced: the same design with its one actor held to TARGET_ACTOR_RATE items/s.
PACED = "_paced"
# <design>_ratio: the same design with a samples-per-insert rate limit (no target of its own).
RATIO = "_ratio"
PACED_TOLERANCE = 0.98
# The targets, with 1 actor and 1 learner: the learner keeps this share of its solo
# rate while the actor pushes at least this many items per second, and the combined throughput
# is at least this multiple of the mutex row's.
TARGET_ACTORS = 1
TARGET_LEARNER_SHARE = 0.8
TARGET_ACTOR_RATE = 1e6
TARGET_VS_MUTEX = 1.5
# A run during which the machine's other processes used this many cores' worth of CPU or more
# is marked: its threads did not have the whole machine. Runs shorter than SHORT_RUN seconds
# (bench-smoke's) get no such mark: /proc/stat counts in 10 ms ticks.
DISTURBED_CPU = 0.25
SHORT_RUN = 0.1
CONCURRENT_DESCRIPTIONS = {
    "mutex": "one `std::mutex` around a `per::prioritized_replay<transition>`: the learner "
    "locks, samples 256 into a reused `replay_batch`, copies the 256 items into its own vector "
    "(as `concurrent_batch` owns its items) and unlocks, then locks again for "
    "`update_priorities`; an actor locks for each `push_batch` of 32",
    "shards_1": "`per::concurrent_replay<transition>` with one shard: one mutex around one "
    "`replay_buffer`, `sample` into a reused `concurrent_batch` (items copied under the lock)",
    "shards_2": "`per::concurrent_replay<transition>` with 2 shards, each with its own mutex: "
    "a push goes to the least filled free shard, a sample reads every shard's total and draws "
    "each shard's share under its lock",
    "shards_4": "the same with 4 shards",
    "shards_2_ratio": "`shards_2` with a rate limit of one sample per insert "
    "(`rate_limit::sample_to_insert_ratio(1, 2^20, 65536)`, counted from the full buffer): "
    "actors that get 65,536 items ahead of the learner wait, asleep, instead of taking the "
    "cores from it; steps and pushes are the limiter's completed counts",
    "mutex_paced": "`mutex` with its one actor held to 1M items/s (it sleeps while ahead of "
    "that schedule), as an actor bound by its environment would be",
    "shards_1_paced": "`shards_1`, the actor held to 1M items/s",
    "shards_2_paced": "`shards_2`, the actor held to 1M items/s",
    "shards_4_paced": "`shards_4`, the actor held to 1M items/s",
}


# --- Reading the results ----------------------------------------------------------------------


class Results:
    """Rows keyed by (operation, structure, n, batch): ns per item and index bytes per slot."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
        self.path = path
        self.context = data.get("context", {})
        self.ns_per_item = {}
        self.index_bytes = {}
        self.skipped = []
        # Concurrent rows: (design, N, actors) -> the counters of each run.
        self.concurrent = {}
        samples = {}
        medians = {}
        for row in data.get("benchmarks", []):
            name = row.get("run_name") or row.get("name", "")
            parts = name.split("/")
            # Extra components Google Benchmark may append (min_time:..., repeats:...) are
            # ignored: the first four are <operation>/<structure>/<N>/<batch>.
            if len(parts) < 4 or not parts[2].isdigit() or not parts[3].isdigit():
                continue
            key = (parts[0], parts[1], int(parts[2]), int(parts[3]))
            if row.get("error_occurred"):
                self.skipped.append("%s: %s" % (name, row.get("error_message", "error")))
                continue
            if parts[0] == CONCURRENT:
                if row.get("run_type") != "aggregate" and "learner_steps_per_second" in row:
                    self.concurrent.setdefault(key[1:], []).append(row)
                continue
            rate = row.get("items_per_second")
            if not rate:
                continue
            ns = 1e9 / rate
            if row.get("run_type") == "aggregate":
                if row.get("aggregate_name") == "median":
                    medians[key] = ns
                continue
            samples.setdefault(key, []).append(ns)
            if "index_bytes_per_slot" in row:
                self.index_bytes[key] = row["index_bytes_per_slot"]
        # With --benchmark_repetitions, the fastest run of the row (interference from other
        # work on the machine only ever adds time); else the one run. A file holding only
        # aggregates falls back to the median aggregate.
        self.spreads = []
        for key, values in samples.items():
            self.ns_per_item[key] = min(values)
            if len(values) > 1:
                self.spreads.append(max(values) / min(values) - 1.0)
        for key, value in medians.items():
            self.ns_per_item.setdefault(key, value)

    def get(self, operation, structure, n, batch):
        return self.ns_per_item.get((operation, structure, n, batch))

    def sizes(self, operation=None):
        return sorted({k[2] for k in self.ns_per_item if operation in (None, k[0])})

    def structures(self, operation, batch, family="proportional"):
        present = {k[1] for k in self.ns_per_item if k[0] == operation and k[3] == batch}
        if family == "rank":
            return [s for s in RANK_STRUCTURES if s in present]
        if operation in MIXED_OPERATIONS:
            return [s for s in STRUCTURES + RANK_STRUCTURES if s in present]
        ordered = [s for s in STRUCTURES if s in present]
        return ordered + sorted(present - set(ordered) - {FLOOR} - set(RANK_STRUCTURES))

    def batches(self, operation):
        return sorted({k[3] for k in self.ns_per_item if k[0] == operation}, reverse=True)


# --- Formatting -----------------------------------------------------------------------------


def format_ns(value):
    if value is None:
        return "—"
    if value >= 100:
        return "{:,.0f}".format(value)
    if value >= 10:
        return "{:.1f}".format(value)
    if value >= 1:
        return "{:.2f}".format(value)
    return "{:.3f}".format(value)


def format_ratio(value):
    if value is None:
        return "—"
    if value >= 100:
        return "{:,.0f}×".format(value)
    if value >= 10:
        return "{:.1f}×".format(value)
    return "{:.2f}×".format(value)


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def power_label(n):
    exponent = n.bit_length() - 1
    return "2^%d" % exponent if n == 1 << exponent else "{:,}".format(n)


def markdown_table(header, rows, left_columns=(0,)):
    """Numbers right-aligned; the columns in left_columns (labels, text) left-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(":---" if i in left_columns else "---:"
                                for i in range(len(header))) + "|")
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# --- Tables ---------------------------------------------------------------------------------


def time_table(results, operation, batch, family="proportional"):
    """ns per item per structure and N, then the library's speedups and distance to the floor."""
    structures = results.structures(operation, batch, family)
    comparisons = RANK_COMPARISONS if family == "rank" else COMPARISONS
    pairs, floor_subject = comparisons.get(operation, ([], None))
    pairs = [(s, b) for s, b in pairs if s in structures and b in structures]
    floor_present = floor_subject in structures and any(
        results.get("sample", FLOOR, n, batch) is not None for n in results.sizes())
    header = ["N"] + ["`%s`" % s for s in structures]
    if floor_present:
        header.append("floor")
    header += ["`%s` vs `%s`" % pair for pair in pairs]
    if floor_present:
        header.append("`%s` ÷ floor" % floor_subject)
    rows = []
    for n in results.sizes(operation):
        times = {s: results.get(operation, s, n, batch) for s in structures}
        if all(value is None for value in times.values()):
            continue
        row = [power_label(n)] + [format_ns(times[s]) for s in structures]
        floor = results.get("sample", FLOOR, n, batch)
        if floor_present:
            row.append(format_ns(floor))
        row += [format_ratio(ratio(times[baseline], times[subject]))
                for subject, baseline in pairs]
        if floor_present:
            row.append(format_ratio(ratio(times[floor_subject], floor)))
        rows.append(row)
    return markdown_table(header, rows) if structures else ""


def memory_table(results):
    sizes = results.sizes()
    header = ["structure"] + [power_label(n) for n in sizes] + ["what is counted"]
    rows = []
    for structure in STRUCTURES + RANK_STRUCTURES:
        for operation in MEMORY_SOURCE_ORDER:
            values = {k[2]: v for k, v in results.index_bytes.items()
                      if k[0] == operation and k[1] == structure}
            if values:
                rows.append(["`%s`" % structure] +
                            ["{:.1f}".format(values[n]) if n in values else "—" for n in sizes] +
                            [MEMORY_NOTES.get(structure, "")])
                break
    return markdown_table(header, rows, left_columns=(0, len(header) - 1))


def memory_at(results, structure, n):
    for operation in MEMORY_SOURCE_ORDER:
        for key, value in results.index_bytes.items():
            if key[0] == operation and key[1] == structure and key[2] == n:
                return value
    return None


def headline(results):
    """The ratios at N = 2^20, batch 256 (or the largest N measured)."""
    sizes = results.sizes("sample")
    if not sizes:
        return None, []
    n = HEADLINE_N if HEADLINE_N in sizes else sizes[-1]
    b = HEADLINE_BATCH
    get = results.get
    tree = get("sample", "sum_tree", n, b)
    full = get("sample_full", "prioritized_replay", n, b)
    update = get("update", "prioritized_replay", n, 1)
    lines = []
    # A user's cost is the whole training step: it leads, then its parts.
    for batch in (b, 32):
        step = get("step", "prioritized_replay", n, batch)
        if step is None:
            continue
        reference = get("step", "binary_reference", n, batch)
        rank_step = get("step", "rank_based", n, batch)
        lines.append(
            "- `step`, B = %d (B/8 pushes, a full sample of B, B updates; ns per sampled item): "
            "`prioritized_replay` %s ns, `binary_reference` %s ns (%s)%s." % (
                batch, format_ns(step), format_ns(reference),
                format_ratio(ratio(reference, step)),
                "" if rank_step is None else ", `rank_based` %s ns" % format_ns(rank_step)))
    batch_update = get("update_batch", "prioritized_replay", n, b)
    if batch_update is not None:
        lines.append(
            "- `update_batch` of %d: `prioritized_replay` %s ns per update, `binary_reference` "
            "%s ns (%s)." % (b, format_ns(batch_update),
                             format_ns(get("update_batch", "binary_reference", n, b)),
                             format_ratio(ratio(get("update_batch", "binary_reference", n, b),
                                                batch_update))))
    if tree is not None:
        lines.append(
            "- `sample`, indices only: `sum_tree` takes %s ns per item: %s faster than `naive`, "
            "%s faster than `naive_cached`, %s faster than `binary_reference`, and %s the "
            "memory floor (%s ns)." % (
                format_ns(tree), format_ratio(ratio(get("sample", "naive", n, b), tree)),
                format_ratio(ratio(get("sample", "naive_cached", n, b), tree)),
                format_ratio(ratio(get("sample", "binary_reference", n, b), tree)),
                format_ratio(ratio(tree, get("sample", FLOOR, n, b))),
                format_ns(get("sample", FLOOR, n, b))))
    if full is not None:
        lines.append(
            "- `sample_full`, with IS weights and probabilities: `prioritized_replay` takes %s "
            "ns per item: %s faster than `naive`, %s faster than `binary_reference`." % (
                format_ns(full), format_ratio(ratio(get("sample_full", "naive", n, b), full)),
                format_ratio(ratio(get("sample_full", "binary_reference", n, b), full))))
    if update is not None:
        lines.append(
            "- single `update`: `prioritized_replay` %s ns, `binary_reference` %s ns "
            "(ratio %s; above 1× means the library is faster)." % (
                format_ns(update), format_ns(get("update", "binary_reference", n, 1)),
                format_ratio(ratio(get("update", "binary_reference", n, 1), update))))
    push = get("push", "prioritized_replay", n, 1)
    if push is not None:
        push_batch = get("push_batch", "prioritized_replay", n, b)
        lines.append(
            "- `push`: `prioritized_replay` %s ns, `binary_reference` %s ns (%s)%s." % (
                format_ns(push), format_ns(get("push", "binary_reference", n, 1)),
                format_ratio(ratio(get("push", "binary_reference", n, 1), push)),
                "" if push_batch is None else
                "; `push_batch` of %d with priorities: %s ns per item, `binary_reference` %s "
                "(%s)" % (b, format_ns(push_batch),
                          format_ns(get("push_batch", "binary_reference", n, b)),
                          format_ratio(ratio(get("push_batch", "binary_reference", n, b),
                                             push_batch)))))
    rank = get("sample_full", "rank_based", n, b)
    if rank is not None:
        naive_rank = get("sample_full", "naive_rank_based", n, b)
        lines.append(
            "- rank-based `sample_full`: `rank_based` %s ns per item%s." % (
                format_ns(rank), "" if naive_rank is None else
                ", %s faster than sorting on every draw (`naive_rank_based`)" %
                format_ratio(ratio(naive_rank, rank))))
    memory = memory_at(results, "prioritized_replay", n)
    if memory is not None:
        lines.append("- index memory: `prioritized_replay` %.1f bytes per slot, "
                     "`binary_reference` %s." % (
                         memory, "%.1f" % memory_at(results, "binary_reference", n)
                         if memory_at(results, "binary_reference", n) is not None else "—"))
    return n, lines


# --- Concurrent rows ------------------------------------------------------------------------


def concurrent_rates(results, n):
    """The concurrent rows at N: the solo rates and, per (design, actors), the chosen run.

    The solo rows keep their fastest run. A concurrent row keeps its run with the highest
    combined throughput (learner rate / solo learner rate + actor rate / solo actor rate, in
    cores' worth of work): as with the other rows, interference only ever takes work away.
    Returns (solo learner steps/s, solo actor items/s, {(design, actors): run}, spreads), with
    spreads the relative gaps between the best and worst combined throughput of each row.
    """
    runs = results.concurrent
    solo_learner = max((r["learner_steps_per_second"]
                        for r in runs.get((SOLO_LEARNER, n, 0), [])), default=None)
    solo_actor = max((r["actor_items_per_second"]
                      for r in runs.get((SOLO_ACTOR, n, 1), [])), default=None)
    chosen = {}
    spreads = []
    if not solo_learner or not solo_actor:
        return solo_learner, solo_actor, chosen, spreads

    def combined(run):
        return (run["learner_steps_per_second"] / solo_learner +
                run["actor_items_per_second"] / solo_actor)

    for (design, size, actors), design_runs in runs.items():
        if size != n or design in (SOLO_LEARNER, SOLO_ACTOR):
            continue
        values = [combined(run) for run in design_runs]
        best = max(range(len(values)), key=lambda i: values[i])
        chosen[(design, actors)] = dict(design_runs[best], combined=values[best])
        if len(values) > 1 and min(values) > 0:
            spreads.append(max(values) / min(values) - 1.0)
    return solo_learner, solo_actor, chosen, spreads


def format_rate(value):
    if value is None:
        return "—"
    if value >= 1e6:
        return "{:.2f}M".format(value / 1e6)
    if value >= 1e4:
        return "{:,.0f}".format(value)
    return "{:,.1f}".format(value) if value < 100 else "{:,.0f}".format(value)


def concurrent_designs(chosen):
    present = {design for design, _ in chosen}
    return ([d for d in CONCURRENT_DESIGNS if d in present] +
            sorted(present - set(CONCURRENT_DESIGNS)))


def concurrent_short_runs(results):
    seconds = results.context.get("per_concurrent_seconds")
    return seconds is not None and float(seconds) < SHORT_RUN


def concurrent_table(results, n):
    solo_learner, solo_actor, chosen, _ = concurrent_rates(results, n)
    if not chosen:
        return ""
    short = concurrent_short_runs(results)
    header = ["design", "actors", "learner steps/s", "learner ÷ solo", "actor items/s",
              "combined (cores)", "vs `%s`" % CONCURRENT_BASELINE, "learner CPU",
              "actors' CPU", "others' CPU"]

    def cpu(run, counter):
        if not run or counter not in run or (short and counter == "others_cpu_share"):
            return "—"
        disturbed = counter == "others_cpu_share" and run[counter] >= DISTURBED_CPU
        return "{:.2f}{}".format(run[counter], " (!)" if disturbed else "")

    runs = results.concurrent
    best_learner = max(runs.get((SOLO_LEARNER, n, 0), []),
                       key=lambda r: r["learner_steps_per_second"], default=None)
    best_actor = max(runs.get((SOLO_ACTOR, n, 1), []),
                     key=lambda r: r["actor_items_per_second"], default=None)
    rows = [["solo learner (no lock)", "0", format_rate(solo_learner), "100%", "—", "1.00",
             "—", cpu(best_learner, "learner_cpu_share"), "—",
             cpu(best_learner, "others_cpu_share")],
            ["solo actor (no lock)", "1", "—", "—", format_rate(solo_actor), "1.00", "—", "—",
             cpu(best_actor, "actor_cpu_share"), cpu(best_actor, "others_cpu_share")]]
    for design in concurrent_designs(chosen):
        for actors in sorted(a for d, a in chosen if d == design):
            run = chosen[(design, actors)]
            baseline = chosen.get((CONCURRENT_BASELINE, actors))
            rows.append([
                "`%s`" % design, str(actors), format_rate(run["learner_steps_per_second"]),
                "{:.0f}%".format(100 * run["learner_steps_per_second"] / solo_learner),
                format_rate(run["actor_items_per_second"]), "{:.2f}".format(run["combined"]),
                format_ratio(ratio(run["combined"], baseline["combined"] if baseline else None)),
                cpu(run, "learner_cpu_share"), cpu(run, "actor_cpu_share"),
                cpu(run, "others_cpu_share")])
    return markdown_table(header, rows, left_columns=(0,))


def concurrent_targets(results, n):
    """One PASS/FAIL line per concurrent_replay design, for the issue's three targets.

    The learner's share is read from the design's paced row (its one actor held to
    TARGET_ACTOR_RATE items per second: "while the actor pushes at least 1 million items per
    second") when there is one, else from the unpaced row; the combined throughput against the
    mutex from the unpaced rows (both loops as fast as they go).
    """
    solo_learner, _, chosen, _ = concurrent_rates(results, n)
    baseline = chosen.get((CONCURRENT_BASELINE, TARGET_ACTORS))
    lines = []
    for design in concurrent_designs(chosen):
        run = chosen.get((design, TARGET_ACTORS))
        if (design == CONCURRENT_BASELINE or design.endswith(PACED) or design.endswith(RATIO)
                or run is None):
            continue
        paced = chosen.get((design + PACED, TARGET_ACTORS))
        share_run = paced or run
        share = share_run["learner_steps_per_second"] / solo_learner
        actor = share_run["actor_items_per_second"]
        versus = ratio(run["combined"], baseline["combined"] if baseline else None)
        # A paced actor may fall a little short of its rate when its last batch ends the window.
        checks = [share >= TARGET_LEARNER_SHARE, actor >= TARGET_ACTOR_RATE * PACED_TOLERANCE,
                  versus is not None and versus >= TARGET_VS_MUTEX]
        verdict = lambda ok: "PASS" if ok else "FAIL"
        lines.append(
            "- `%s`, %d actor + 1 learner: **%s**. Learner at %.0f%% of its solo rate while the "
            "actor pushes %s items/s (`%s` row; %s, target >= %.0f%% at >= %s items/s: %s); "
            "both as fast as they go, combined %.2f cores, %s the `%s` row's %s (%s, "
            "target >= %s)." % (
                design, TARGET_ACTORS, "PASS" if all(checks) else
                "FAIL (%d of 3 targets met)" % sum(checks),
                100 * share, format_rate(actor), design + PACED if paced else design,
                verdict(checks[0]), 100 * TARGET_LEARNER_SHARE, format_rate(TARGET_ACTOR_RATE),
                verdict(checks[1]), run["combined"], format_ratio(versus), CONCURRENT_BASELINE,
                "{:.2f}".format(baseline["combined"]) if baseline else "—", verdict(checks[2]),
                format_ratio(TARGET_VS_MUTEX)))
    return lines


def concurrent_sizes(results):
    return sorted({n for (_, n, _) in results.concurrent})


def concurrent_section(results):
    sections = []
    context = results.context
    cores = context.get("num_cpus") or context.get("per_hardware_threads") or "?"
    seconds = context.get("per_concurrent_seconds")
    for n in concurrent_sizes(results):
        table = concurrent_table(results, n)
        if not table:
            continue
        _, _, chosen, spreads = concurrent_rates(results, n)
        sections += ["## Concurrent replay: one learner thread, A actor threads (`concurrent`), "
                     "N = %s" % power_label(n), ""]
        sections.append(
            "The learner loops over training steps (a sample of 256 with IS weights, the 256 "
            "items copied out, `update_priorities` of 256 at the sampled handles); each actor "
            "loops over `push_batch` of 32 items with priorities, as fast as it can. Each run "
            "lasts %s s of wall time; rates are per second of that time. \"learner ÷ solo\" "
            "divides the learner's rate by the learner loop's alone (no lock, same work); "
            "\"combined\" is learner rate / solo learner rate + actor rate / solo actor rate: "
            "the cores' worth of work done, 1.00 for either loop alone; \"vs `%s`\" divides "
            "it by the `%s` row's with as many actors. The CPU columns are the cores' worth of "
            "CPU time the learner and the actors used (below the thread count: they waited, "
            "mostly for a lock); \"others' CPU\" is what the other processes on the machine "
            "used meanwhile (from /proc/stat: near 1 on 2 CPUs, the row's threads had about one "
            "core)." % (
                "{:g}".format(float(seconds)) if seconds else "a fixed", CONCURRENT_BASELINE,
                CONCURRENT_BASELINE))
        sections.append("")
        sections.append(
            "**Threads and cores: this machine has %s CPUs.** A row runs 1 + A threads (the "
            "main thread sleeps meanwhile): the combined throughput can reach at most "
            "min(%s, 1 + A) cores' worth, and with A >= %s the threads share the cores, so a "
            "thread holding a lock can be preempted while the others wait for it." % (
                cores, cores, cores))
        sections.append("")
        sections += [table, ""]
        how = ("Each row shows its run with the highest combined throughput, the solo rows "
               "their fastest; (!) marks a run during which other processes used %.2f cores' "
               "worth of CPU or more, so that the row's threads did not have the whole machine "
               "(its rates are then lower than this code's, and its combined throughput can be "
               "too)" % DISTURBED_CPU)
        if spreads:
            how += ("; a row's worst run reached a median of %.0f%% less combined throughput "
                    "than its best (up to %.0f%%)" % (
                        100 * statistics.median([1 - 1 / (1 + x) for x in spreads]),
                        100 * max(1 - 1 / (1 + x) for x in spreads)))
        if concurrent_short_runs(results):
            how = ("These runs are too short for their rates to mean much (a smoke run), and "
                   "for /proc/stat's 10 ms ticks: no \"others' CPU\"")
        sections += [how + ".", ""]
        targets = concurrent_targets(results, n)
        if targets:
            sections += ["Targets (stated by the issue, measured here), with %d actor and 1 "
                         "learner: the learner at >= %.0f%% of its solo rate while the actor "
                         "pushes >= %s items/s, and a combined throughput >= %s the `%s` "
                         "row's:" % (TARGET_ACTORS, 100 * TARGET_LEARNER_SHARE,
                                     format_rate(TARGET_ACTOR_RATE),
                                     format_ratio(TARGET_VS_MUTEX), CONCURRENT_BASELINE), ""]
            sections += targets + [""]
        sections += ["- `%s`: %s." % (design, CONCURRENT_DESCRIPTIONS[design])
                     for design in concurrent_designs(chosen)
                     if design in CONCURRENT_DESCRIPTIONS]
        sections.append("")
    return sections


# --- The Markdown report --------------------------------------------------------------------


def cache_summary(context):
    parts = []
    for cache in context.get("caches", []):
        if cache.get("type") == "Instruction":
            continue
        size = cache.get("size", 0)
        text = "%d MiB" % (size >> 20) if size >= 1 << 20 else "%d KiB" % (size >> 10)
        parts.append("L%s%s %s" % (cache.get("level", "?"),
                                   "d" if cache.get("type") == "Data" else "", text))
    return ", ".join(parts)


def header_table(results, command):
    context = results.context
    cpus = context.get("num_cpus")
    mhz = context.get("mhz_per_cpu")
    cpu = context.get("per_cpu_model", "unknown")
    cpu_text = "%s; %s CPUs%s" % (cpu, cpus if cpus is not None else "?",
                                  " at %d MHz" % mhz if mhz else "")
    caches = cache_summary(context)
    if caches:
        cpu_text += "; " + caches
    load = context.get("load_avg")
    library_build = context.get("library_build_type", "unknown")
    rows = [
        ["Date", context.get("date", "unknown")],
        ["CPU", cpu_text],
        ["Compiler", context.get("per_compiler", "unknown")],
        ["Flags", "`%s`" % context.get("per_cxx_flags", "unknown")],
        ["-march=native", context.get("per_native", "unknown")],
        ["Hot loops run", context.get("per_kernels", "unknown")],
        ["Build type", context.get("per_build_type", "unknown")],
        ["per version", context.get("per_version", "unknown")],
        ["Google Benchmark library", "built as %s%s" % (
            library_build,
            " (Debian's package prints \"Library was built as DEBUG\": that is how the "
            "benchmark library itself was compiled, not the code measured; harmless)"
            if library_build == "debug" else "")],
        ["Load average at start", ", ".join("%.2f" % x for x in load) if load else "unknown"],
        ["Command", "`%s`" % command],
    ]
    if context.get("cpu_scaling_enabled"):
        rows.append(["Note", "CPU frequency scaling was enabled: expect more noise"])
    return markdown_table(["", ""], rows, left_columns=(0, 1))


def build_markdown(results, command, plot_name, json_name, plot_declined=False):
    sections = ["# per benchmarks", ""]
    sections.append(
        "How the cost of prioritized sampling grows with the buffer size N, for the tutorial "
        "O(N) designs, a classic binary segment tree (OpenAI baselines' design) and this "
        "library. Generated by `benchmarks/make_report.py` from `%s`, the raw Google Benchmark "
        "output of one run of `%s`; do not edit by hand." % (json_name, command))
    sections += ["", header_table(results, command), ""]

    n, lines = headline(results)
    if lines:
        sections += ["## Headline: N = %s, batch %d" % (power_label(n), HEADLINE_BATCH), ""]
        sections += lines + [""]
        repetitions = results.context.get("per_repetitions", "1")
        if repetitions not in ("", "1"):
            how = ("the fastest of %s runs of the row (%s%s), each for at least the minimum "
                   "time: other work on a shared machine only ever adds time, and the first "
                   "run of a row built just before it may pay for page faults, so the fastest "
                   "run is the closest to the code's own cost" % (
                       repetitions, "one after another" if results.context.get(
                           "per_interleaved", "false") != "true" else
                       "interleaved at random with the other rows' runs",
                       "" if not results.context.get("per_slow_rows") else
                       "; the O(N) sample rows at N >= 2^18, %s runs" %
                       results.context.get("per_slow_rows")))
            if results.spreads:
                how += ("; the slowest run of a row took a median of %.0f%% longer than its "
                        "fastest (up to %.0f%%)" % (100 * statistics.median(results.spreads),
                                                   100 * max(results.spreads)))
        else:
            how = "each row run once for at least the minimum time"
        sections.append(
            "Every time is CPU time per item (1e9 / Google Benchmark's items_per_second), %s; "
            "compare ratios within one report." % how)
        sections.append("")
    if plot_name:
        sections += ["![ns per sampled item vs N, log-log](%s)" % plot_name, ""]
    elif not plot_declined:
        sections += ["*(No plot: neither matplotlib nor gnuplot was available when this "
                     "report was made. `apt-get install python3-matplotlib` or `gnuplot`, "
                     "then rerun `benchmarks/make_report.py`.)*", ""]

    for operation in ["step"]:
        for batch in results.batches(operation):
            sections += ["## %s (`%s`), B = %d: ns per sampled item" % (
                OPERATION_TITLES[operation], operation, batch), ""]
            sections += [time_table(results, operation, batch), ""]
    for operation in ["sample", "sample_full"]:
        for batch in results.batches(operation):
            sections += ["## %s (`%s`), batch %d: ns per sampled item" % (
                OPERATION_TITLES[operation], operation, batch), ""]
            sections += [time_table(results, operation, batch), ""]
    for operation in ["update", "update_batch", "push", "push_batch"]:
        for batch in results.batches(operation):
            unit = "update" if operation.startswith("update") else "push"
            if operation == "update_batch":
                title = "Priority updates in batches of %d" % batch
            elif operation == "push_batch":
                title = "%s of %d" % (OPERATION_TITLES[operation], batch)
            else:
                title = OPERATION_TITLES[operation]
            sections += ["## %s (`%s`): ns per %s" % (title, operation, unit), ""]
            sections += [time_table(results, operation, batch), ""]
    sections += concurrent_section(results)

    if any(results.structures(op, b, "rank") for op in ["sample_full", "update"]
           for b in results.batches(op)):
        sections += ["## Rank-based prioritization", "",
                     "P(i) = rank(i)^-alpha / sum_r r^-alpha (rank 1 = largest priority), "
                     "alpha 0.7, against the tutorial's sort-on-every-draw reference. Times per "
                     "sampled item, update or push.", ""]
        for operation in ["sample_full", "update", "update_batch", "push"]:
            for batch in results.batches(operation):
                table = time_table(results, operation, batch, "rank")
                if table:
                    sections += ["### `%s`, batch %d" % (operation, batch), "", table, ""]

    if results.index_bytes:
        sections += ["## Index memory: bytes per slot besides the items", "",
                     memory_table(results), ""]

    sections += ["## What the rows measure", ""]
    sections.append(
        "Rows are named `<operation>/<structure>/<N>/<batch>` (batch 1 for single updates and "
        "pushes). Every structure holds the same N priorities (exponential, mean 1, like "
        "|TD errors|), with alpha = 0.6, epsilon = 1e-6, beta = 0.4, and sees the same random "
        "numbers: pools of 2^20 stratified prefix fractions, update slots and priorities, "
        "generated before timing and cycled through. Buffers are full (N items) when timed. "
        "`step` rows: B/8 pushes with the max priority, a full sample of B (slots, IS "
        "weights, probabilities) and B new priorities from the pool written at the sampled "
        "handles (`update_priorities`; `binary_reference` updates one slot at a time), per "
        "sampled item; rank-based rows use alpha 0.7 and beta 0.5. `push_batch` rows: B "
        "items with B priorities from the pool (`push_batch`; `binary_reference` pushes and "
        "then updates each). `concurrent` rows (`concurrent/<design>/<N>/<actors>`) run "
        "threads for a fixed wall time and report rates instead (see their section).")
    sections.append("")
    for structure in STRUCTURES + RANK_STRUCTURES + [FLOOR]:
        sections.append("- `%s`: %s." % (structure, DESCRIPTIONS[structure]))
    sections.append("")
    sections.append(
        "Speedup columns divide the baseline's time by the library's (above 1× = the library "
        "is faster); \"÷ floor\" divides the library's time by the floor's (how far from the "
        "hardware it is). `sample/naive` and `sample_full/naive` allocate O(N) arrays per call "
        "as the tutorials do.")
    sections.append("")
    if results.skipped:
        sections += ["Rows that reported an error: " + "; ".join(results.skipped), ""]
    return "\n".join(sections)


# --- The plot -------------------------------------------------------------------------------

PLOT_PANELS = [("sample", "sample: indices only", "proportional"),
               ("sample_full", "sample_full: indices + IS weights + probabilities",
                "proportional"),
               ("sample_full", "rank-based sample_full", "rank")]


def plot_series(results, batch):
    """[(panel title, [(structure, [(n, ns)], is_floor)])] for the plot backends."""
    panels = []
    for operation, title, family in PLOT_PANELS:
        lines = []
        for structure in results.structures(operation, batch, family):
            points = [(n, results.get(operation, structure, n, batch))
                      for n in results.sizes(operation)]
            points = [(n, v) for n, v in points if v is not None]
            if points:
                lines.append((structure, points, False))
        floor = [(n, results.get("sample", FLOOR, n, batch)) for n in results.sizes("sample")]
        floor = [(n, v) for n, v in floor if v is not None]
        if floor:
            lines.append(("floor (one random line read)", floor, True))
        if lines:
            panels.append(("%s, batch %d" % (title, batch), lines))
    return panels


COLORS = {"naive": "#d62728", "naive_cached": "#ff7f0e", "binary_reference": "#9467bd",
          "sum_tree": "#1f77b4", "prioritized_replay": "#2ca02c", "naive_rank_based": "#8c564b",
          "rank_based": "#17becf"}


def plot_matplotlib(panels, subtitle, path):
    try:
        import matplotlib
        matplotlib.use("Agg")  # no display needed
    except Exception:  # not installed, or not importable by this interpreter: next backend
        return False
    try:
        draw_matplotlib(panels, subtitle, path)
    except Exception as error:  # an old or broken matplotlib: gnuplot may still do it
        sys.stderr.write("matplotlib could not draw the plot (%s)\n" % error)
        return False
    return True


def draw_matplotlib(panels, subtitle, path):
    import matplotlib.pyplot as pyplot
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    figure, axes = pyplot.subplots(1, len(panels), figsize=(7 * len(panels), 5.6), squeeze=False)
    for axis, (title, lines) in zip(axes[0], panels):
        sizes = sorted({n for _, points, _ in lines for n, _ in points})
        for name, points, is_floor in lines:
            xs = [n for n, _ in points]
            ys = [v for _, v in points]
            if is_floor:
                axis.plot(xs, ys, linestyle="--", color="black", linewidth=1.6, label=name)
            else:
                axis.plot(xs, ys, marker="o", markersize=4, linewidth=2,
                          color=COLORS.get(name), label=name)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(FixedLocator(sizes))
        axis.xaxis.set_minor_locator(NullLocator())
        axis.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _: "$2^{%d}$" % (int(round(x)).bit_length() - 1)))
        axis.set_xlabel("N (slots in the buffer)", fontsize=12)
        axis.set_ylabel("ns per sampled item (log scale)", fontsize=12)
        axis.set_title(title, fontsize=12)
        axis.tick_params(labelsize=11)
        axis.grid(True, which="major", alpha=0.35)
        axis.grid(True, which="minor", axis="y", alpha=0.12)
        axis.legend(fontsize=10, loc="upper left")
    figure.suptitle(subtitle, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def gnuplot_terminal(gnuplot):
    try:
        terminals = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True,
                                   text=True, timeout=30)
        listing = terminals.stdout + terminals.stderr
    except (OSError, subprocess.SubprocessError):
        return None
    if "pngcairo" in listing:
        return 'pngcairo enhanced size 1540,616 font "sans,11"'
    if re.search(r"^\s*png\s", listing, re.MULTILINE):
        return "png size 1540,616"
    return None


def plot_gnuplot(panels, subtitle, path):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return False
    terminal = gnuplot_terminal(gnuplot)
    if not terminal:
        return False
    with tempfile.TemporaryDirectory() as scratch:
        script = ["set terminal %s" % terminal, "set output '%s'" % path.replace("'", "''"),
                  "set multiplot layout 1,%d title '%s' noenhanced" % (
                      len(panels), subtitle.replace("'", "''")),
                  "set logscale x 2", "set logscale y 10", "set format x '2^{%L}'",
                  "set format y '10^{%L}'", "set grid", "set key top left Left reverse font ',10'",
                  "set xlabel 'N (slots in the buffer)'",
                  "set ylabel 'ns per sampled item (log scale)'"]
        for index, (title, lines) in enumerate(panels):
            plots = []
            for number, (name, points, is_floor) in enumerate(lines):
                data = os.path.join(scratch, "panel%d_%d.dat" % (index, number))
                with open(data, "w", encoding="utf-8") as file:
                    file.writelines("%d %.6g\n" % point for point in points)
                if is_floor:
                    style = "with lines dashtype 2 linewidth 2 linecolor rgb 'black'"
                else:
                    style = "with linespoints pointtype 7 pointsize 0.7 linewidth 2 " \
                            "linecolor rgb '%s'" % COLORS.get(name, "#444444")
                plots.append("'%s' using 1:2 %s title '%s' noenhanced" % (data, style, name))
            script.append("set title '%s' noenhanced" % title)
            script.append("plot " + ", ".join(plots))
        script.append("unset multiplot")
        script_path = os.path.join(scratch, "plot.gp")
        with open(script_path, "w", encoding="utf-8") as file:
            file.write("\n".join(script) + "\n")
        completed = subprocess.run([gnuplot, script_path], capture_output=True, text=True)
        if completed.returncode != 0:
            sys.stderr.write("gnuplot failed:\n" + completed.stderr)
            return False
    return os.path.exists(path)


def make_plot(results, path, backend):
    batch = HEADLINE_BATCH if HEADLINE_BATCH in results.batches("sample") else (
        results.batches("sample") or [None])[0]
    if batch is None:
        return None
    panels = plot_series(results, batch)
    if not panels:
        return None
    context = results.context
    subtitle = "per %s, %s, %s, %s" % (
        context.get("per_version", "?"), context.get("per_cpu_model", "unknown CPU"),
        context.get("per_compiler", "?"), context.get("per_cxx_flags", "?"))
    backends = {"matplotlib": [plot_matplotlib], "gnuplot": [plot_gnuplot],
                "auto": [plot_matplotlib, plot_gnuplot], "none": []}[backend]
    for draw in backends:
        if draw(panels, subtitle, path):
            return draw.__name__.replace("plot_", "")
    return None


# --- Main -----------------------------------------------------------------------------------


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="Google Benchmark JSON (--benchmark_out) of the suite")
    parser.add_argument("--output-dir", help="where benchmarks.md and benchmarks.png go "
                        "(default: the JSON file's directory)")
    parser.add_argument("--copy-to", help="also copy the report there (e.g. the repo's docs/)")
    parser.add_argument("--plot", choices=["auto", "matplotlib", "gnuplot", "none"],
                        default="auto", help="plotting backend (default: matplotlib, then gnuplot)")
    parser.add_argument("--command", help="the command to reproduce the run (default: from the "
                        "JSON context, else 'cmake --workflow --preset bench')")
    parser.add_argument("--name", default="benchmarks",
                        help="file name of the report without extension (default: benchmarks; "
                        "a -march=native run writes benchmarks-native, so that it never "
                        "replaces the portable report in docs/)")
    options = parser.parse_args(argv)

    results = Results(options.results)
    if not results.ns_per_item and not results.concurrent:
        sys.stderr.write("%s: no benchmark rows named <operation>/<structure>/<N>/<batch> with "
                         "items_per_second\n" % options.results)
        return 1
    output_dir = options.output_dir or os.path.dirname(os.path.abspath(options.results))
    os.makedirs(output_dir, exist_ok=True)
    command = options.command or results.context.get("per_reproduce",
                                                     "cmake --workflow --preset bench")

    plot_name = options.name + ".png"
    plot_path = os.path.join(output_dir, plot_name)
    backend = make_plot(results, plot_path, options.plot)
    markdown = build_markdown(results, command, plot_name if backend else None,
                              os.path.basename(options.results), options.plot == "none")
    markdown_path = os.path.join(output_dir, options.name + ".md")
    with open(markdown_path, "w", encoding="utf-8") as file:
        file.write(markdown)

    # What a user running the suite wants to see at the end: the headline and the table.
    n, lines = headline(results)
    print()
    if lines:
        print("per benchmarks, N = %s, batch %d:" % (power_label(n), HEADLINE_BATCH))
        print("\n".join(lines))
        print()
    for operation in ["step", "sample"]:
        if HEADLINE_BATCH in results.batches(operation):
            print("%s, batch %d, ns per sampled item:" % (operation, HEADLINE_BATCH))
            print(time_table(results, operation, HEADLINE_BATCH))
            print()
    for size in concurrent_sizes(results):
        table = concurrent_table(results, size)
        if table:
            print("concurrent, N = %s (one learner, A actors; %s CPUs):" % (
                power_label(size), results.context.get("num_cpus", "?")))
            print(table)
            print("\n".join(concurrent_targets(results, size)))
            print()
    written = [markdown_path]
    if backend:
        written.append(plot_path)
        print("Plot drawn with %s." % backend)
    elif os.path.exists(plot_path):
        os.remove(plot_path)  # never leave a plot of an older run beside this report
    if not backend and options.plot != "none":
        print("No plot: neither matplotlib nor gnuplot could draw it. For the plot, install "
              "one (Debian: apt-get install python3-matplotlib, or apt-get install gnuplot) "
              "and rerun:\n  %s %s %s --output-dir %s" % (
                  os.path.basename(sys.executable) or "python3", os.path.abspath(__file__),
                  os.path.abspath(options.results), output_dir))
    if options.copy_to:
        os.makedirs(options.copy_to, exist_ok=True)
        copies = []
        for path in written:
            copies.append(os.path.join(options.copy_to, os.path.basename(path)))
            shutil.copy(path, copies[-1])
        stale_plot = os.path.join(options.copy_to, plot_name)
        if not backend and os.path.exists(stale_plot):
            os.remove(stale_plot)  # the copied report has no plot: do not pair it with an old one
        written += copies
    print("Report written: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
