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
        "then updates each).")
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
    if not results.ns_per_item:
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
