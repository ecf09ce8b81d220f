"""Draws docs/bench.png from docs/bench-results.json for `cassflow bench`: sink
throughput (steady rows/s) per pipeline on the left, end-to-end latency percentiles per
rate on the right (log scales; one colour per pipeline, one line style per percentile). Run by the bench with its venv's python: chart.py RESULTS.json OUT.png
"""

import json
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(results_path, out_path):
    with open(results_path) as f:
        r = json.load(f)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))

    sink = r.get("sink", [])
    names = [s["pipeline"] for s in sink]
    rates = [s["steady_records_per_second"] for s in sink]
    colors = ["#2a9d8f" if n.startswith("cassflow") else "#8d99ae" for n in names]
    # Names wrap so that six bars' labels do not run into each other.
    bars = left.bar([textwrap.fill(n, 10) for n in names], rates, color=colors)
    left.tick_params(axis="x", labelsize=9)
    for bar, rate in zip(bars, rates):
        left.annotate(f"{rate:,.0f}", (bar.get_x() + bar.get_width() / 2, rate),
                      ha="center", va="bottom", fontsize=8)
    left.set_ylim(0, max(rates + [1]) * 1.15)
    left.set_ylabel("rows/s (steady: first row to last row readable)")
    left.set_title(f"Sink throughput, {r.get('records', 0):,} records")

    latency = r.get("latency", [])
    palette = ["#2a9d8f", "#e76f51", "#6c757d", "#264653", "#e9c46a"]
    for i, pipeline in enumerate(sorted({l["pipeline"] for l in latency})):
        points = sorted((l for l in latency if l["pipeline"] == pipeline), key=lambda l: l["target_rate"])
        xs = [p["target_rate"] for p in points]
        color = palette[i % len(palette)]
        for key, style in (("p50_ms", "-o"), ("p99_ms", "--s"), ("p999_ms", ":^")):
            right.plot(xs, [p[key] for p in points], style, color=color, label=f"{pipeline} {key[:-3]}")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("records/s")
    right.set_ylabel("produce to readable, ms (log scale)")
    right.set_title("End-to-end latency")
    if latency:
        right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"cassflow bench, {r.get('started_at', '')[:19]} ({r.get('build', '')} build)")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
