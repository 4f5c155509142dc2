#!/usr/bin/env python3
"""Summarise `livehub bench ... --json` output as Markdown tables.

Usage: bench/summarize.py FILE...   (files from bench/run-fanout-suite.sh)

Every JSON line of a ramp/fanout run is grouped by (transport, offered rate);
each cell shows the median over repetitions and, for latency and loss, the
range. A step "passes" when nothing is lost, p99 <= 50 ms and the hub
accepted >= 95% of the offered rate (the same rule as `livehub bench ramp`).
"""
import json
import statistics
import sys
from collections import defaultdict

MAX_P99_MS = 50


def passes(r):
    return (r["lost"] == 0 and r["duplicates"] == 0 and r["subscribers_failed"] == 0
            and r["disconnected"] == 0 and r["publish_rejected"] == 0
            and r["publish_unanswered"] == 0 and r["latency_p99_ms"] <= MAX_P99_MS
            and r["publish_rate"] >= 0.95 * r["offered_rate"])


def main(paths):
    runs = defaultdict(list)
    idle = []
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r["scenario"] == "idle":
                    idle.append(r)
                else:
                    runs[(r["transport"], r["offered_rate"])].append(r)

    med = lambda rs, k: statistics.median(r[k] for r in rs)
    rng = lambda rs, k: f"{min(r[k] for r in rs):.1f}–{max(r[k] for r in rs):.1f}"
    for transport in sorted({t for t, _ in runs}):
        print(f"\n{transport}:\n")
        print("| offered msg/s | runs passing | accepted msg/s | deliveries/s | lost (median) "
              "| p50 ms | p99 ms (range) | max ms | hub CPU % | hub CPU-s / M deliveries "
              "| hub RSS MB | tool CPU % |")
        print("|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (t, rate) in sorted(k for k in runs if k[0] == transport):
            rs = runs[(t, rate)]
            print(f"| {rate:g} | {sum(passes(r) for r in rs)}/{len(rs)} "
                  f"| {med(rs, 'publish_rate'):.0f} | {med(rs, 'delivered_per_s'):,.0f} "
                  f"| {med(rs, 'lost'):,.0f} | {med(rs, 'latency_p50_ms'):.1f} "
                  f"| {med(rs, 'latency_p99_ms'):.1f} ({rng(rs, 'latency_p99_ms')}) "
                  f"| {med(rs, 'latency_max_ms'):.0f} | {med(rs, 'hub_cpu_pct'):.0f} "
                  f"| {med(rs, 'hub_cpu_s_per_million'):.2f} "
                  f"| {med(rs, 'hub_rss_kb') / 1024:.0f} | {med(rs, 'tool_cpu_pct'):.0f} |")
    if idle:
        print("\nidle:\n")
        print("| connections | hub RSS before MB | after MB | KB per connection | hub CPU % |")
        print("|---:|---:|---:|---:|---:|")
        for r in idle:
            print(f"| {r['connections']} | {r['hub_rss_before_kb'] / 1024:.1f} "
                  f"| {r['hub_rss_after_kb'] / 1024:.1f} | {r['hub_kb_per_connection']:.2f} "
                  f"| {r['hub_cpu_pct']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
