#!/usr/bin/env python3
"""Turn a bench/peers/run-all.sh result directory into the markdown report.

Usage: bench/peers/report.py OUT_DIR [--doc docs/benchmarks.md]

OUT_DIR holds <server>-<scenario>.txt files (the output of `livehub bench
... --json`: one JSON line per run or ramp step), machine.txt, versions.txt,
commands.txt and config-<peer>.txt. Without --doc the report goes to stdout;
with --doc it replaces what stands between the bench-peers marker lines
(whole lines; the block is appended at the end of the file when they are
missing).

A step passes with the rule of `livehub bench ramp` (bench/summarize.py):
nothing lost, no duplicates, no failed or dropped subscriber, no publish
error, p99 <= 50 ms and the publishers at >= 95 % of the offered rate.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from summarize import passes  # noqa: E402  (the same pass rule as the ramp)

BEGIN = "<!-- bench-peers:begin -->"
END = "<!-- bench-peers:end -->"
SERVERS = [("livehub", "livehub"), ("nchan", "Nchan"), ("pushpin", "Pushpin")]


def load(out_dir):
    """{(server, tag): [json records]}"""
    runs = {}
    for name in sorted(os.listdir(out_dir)):
        m = re.fullmatch(r"(livehub|nchan|pushpin)-([a-z0-9-]+)\.txt", name)
        if not m:
            continue
        recs = []
        with open(os.path.join(out_dir, name)) as f:
            for line in f:
                if line.startswith("{"):
                    try:
                        recs.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
        runs[(m.group(1), m.group(2))] = recs
    return runs


def read(out_dir, name):
    try:
        with open(os.path.join(out_dir, name)) as f:
            return f.read().strip()
    except OSError:
        return ""


def num(v, digits=0):
    if v is None or v < 0:
        return "–"
    return f"{v:,.{digits}f}".replace(",", " ")


def ms(v):
    if v is None:
        return "–"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def tool_mark(r):
    return " \\*" if r.get("tool_saturated") else ""


def verdict(r):
    if passes(r):
        return "pass"
    why = []
    if r["subscribers_failed"]:
        why.append("connect-fail")
    if r["lost"]:
        why.append(f"lost {r['lost']}")
    if r["duplicates"]:
        why.append("dup")
    if r["disconnected"]:
        why.append("disconnects")
    if r["publish_rejected"] or r["publish_unanswered"]:
        why.append("publish errors")
    if r["latency_p99_ms"] > 50:
        why.append("p99")
    if r["publish_rate"] < 0.95 * r["offered_rate"]:
        why.append(f"publishers at {r['publish_rate']:.0f}/s")
    return "fail: " + ", ".join(why)


def best_step(steps):
    """The highest passing step below the first failing one, or None."""
    best = None
    for r in sorted(steps, key=lambda r: r["offered_rate"]):
        if not passes(r):
            break
        best = r
    return best


def ramp_cell(steps):
    if not steps:
        return "not run"
    b = best_step(steps)
    if b is None:
        lowest = min(steps, key=lambda r: r["offered_rate"])
        return f"none (fails at {lowest['offered_rate']:g} msg/s: {verdict(lowest)[6:]})"
    return (f"**{b['offered_rate']:g} msg/s** = {num(b['delivered_per_s'])} deliveries/s, "
            f"p99 {ms(b['latency_p99_ms'])} ms, CPU {num(b['hub_cpu_pct'])} %{tool_mark(b)}")


def eff_runs(runs, server, tag):
    """[(round, record)] of an efficiency scenario: tags eff-ws-1, eff-ws-2, ...
    (or a lone eff-ws from before the rounds)."""
    out = []
    for (s, t), recs in runs.items():
        if s != server or not recs:
            continue
        m = re.fullmatch(re.escape(tag) + r"(?:-(\d+))?", t)
        if m:
            out.append((int(m.group(1) or 0), recs[-1]))
    return sorted(out, key=lambda x: x[0])


def median_run(rounds):
    """The run with the median CPU per delivery (the lower middle of an even count)."""
    ordered = sorted((r for _, r in rounds), key=lambda r: r["hub_cpu_s_per_million"])
    return ordered[(len(ordered) - 1) // 2]


def round_ratios(mine, base):
    """CPU-per-delivery ratios of the runs of the same round (taken side by side)."""
    b = {k: r["hub_cpu_s_per_million"] for k, r in base}
    return [r["hub_cpu_s_per_million"] / b[k] for k, r in mine
            if b.get(k, 0) > 0 and r["hub_cpu_s_per_million"] > 0]


def one(runs, server, tag):
    recs = runs.get((server, tag)) or []
    return recs[-1] if recs else None


def summary(runs):
    present = [(s, label) for s, label in SERVERS if any(k[0] == s for k in runs)]
    rows = []
    head = "| scenario | " + " | ".join(label for _, label in present) + " |"
    rows.append(head)
    rows.append("|---|" + "---|" * len(present))

    def row(title, cell):
        rows.append(f"| {title} | " + " | ".join(cell(s) for s, _ in present) + " |")

    def size(tag):
        """'1 stream × 1,000' from the first record of a scenario (the run's sizes)."""
        r = next((recs[0] for (s, t), recs in runs.items() if t == tag and recs), None)
        return size_of(r)

    def size_of(r):
        if not r:
            return "?"
        subs = r["subscribers"] + r["subscribers_failed"]
        if r["streams"] == 1:
            return f"1 stream × {subs:,}"
        return f"{r['streams']:,} streams × {subs // r['streams']:,}"

    row(f"(a) {size('a-ws')} WS × 100 B: highest passing rate",
        lambda s: ramp_cell(runs.get((s, "a-ws"), [])))
    row("(b) the same over SSE", lambda s: ramp_cell(runs.get((s, "b-sse"), [])))
    row(f"(c) {size('c-many')} WS: highest passing total rate",
        lambda s: ramp_cell(runs.get((s, "c-many"), [])))

    def idle(s):
        r = one(runs, s, "d-idle")
        if not r:
            return "not run"
        kb = r.get("hub_kb_per_connection")
        return (f"**{num(kb, 1)} KB** per connection ({num(r['connections'])} open, "
                f"{num(r['hub_rss_before_kb'] / 1024, 0)} → {num(r['hub_rss_after_kb'] / 1024, 0)} MB)")
    row("(d) idle WS connections: server RSS per connection", idle)

    def ingest(s):
        r = one(runs, s, "e-ingest")
        if not r:
            return "not run"
        if s == "livehub":
            what = f"NDJSON batches of {r.get('batch', '?')}, memory mode"
        else:
            what = "one message per request"
        return (f"**{num(r['publish_rate'])} events/s** ({what}, 16 connections, "
                f"CPU {num(r['hub_cpu_pct'])} %)")
    row("(e) publish ingest", ingest)

    def stalled(s):
        h, t = one(runs, s, "f-healthy"), one(runs, s, "f-stalled")
        if not h or not t:
            return "not run"
        p0, p1 = h["latency_p99_ms"], t["latency_p99_ms"]
        growth = f"{(p1 / p0 - 1) * 100:+.0f} %" if p0 > 0 else "–"
        lost = f", lost {t['lost']}" if t["lost"] else ""
        disc = f", {t['disconnected']} healthy dropped" if t["disconnected"] else ""
        policy = ""
        if t.get("hub_slow_client_drops", -1) >= 0:
            policy = (f"; the hub dropped {num(t['hub_slow_client_drops'])} events for slow clients, "
                      f"closed {num(t['hub_slow_client_disconnects'])}")
        return (f"healthy p99 {ms(p0)} → **{ms(p1)} ms** ({growth}){lost}{disc}; "
                f"RSS {num(h['hub_rss_kb'] / 1024)} → {num(t['hub_rss_kb'] / 1024)} MB "
                f"({t['stalled']} stalled{policy})")
    rate = one(runs, "livehub", "f-stalled") or next(
        (one(runs, s, "f-stalled") for s, _ in present if one(runs, s, "f-stalled")), None)
    row(f"(f) 10 % stalled at {rate['offered_rate']:g} msg/s: healthy p99 without → with, server RSS"
        if rate else "(f) 10 % stalled", stalled)

    def floor(s):
        r = one(runs, s, "g-floor")
        if not r:
            return "not run"
        return (f"p50 {ms(r['latency_p50_ms'])} / **p99 {ms(r['latency_p99_ms'])} ms** "
                f"({verdict(r)})")
    fr = next((one(runs, s, "g-floor") for s, _ in present if one(runs, s, "g-floor")), None)
    row(f"(g) latency floor, {fr['offered_rate']:g} msg/s × {size('g-floor')[11:]} WS" if fr
        else "(g) latency floor",
        floor)

    for tag, transport in (("eff-ws", "WS"), ("eff-sse", "SSE")):
        er = next((eff_runs(runs, s, tag)[0][1] for s, _ in present if eff_runs(runs, s, tag)), None)

        def eff(s, tag=tag):
            mine = eff_runs(runs, s, tag)
            if not mine:
                return "not run"
            r = median_run(mine)
            ratio = ""
            base = eff_runs(runs, "nchan", tag)
            if s != "nchan" and base and median_run(base)["hub_cpu_s_per_million"] > 0:
                ratio = f", {r['hub_cpu_s_per_million'] / median_run(base)['hub_cpu_s_per_million']:.2f}× Nchan"
                pairs = round_ratios(mine, base)
                if len(pairs) > 1:
                    ratio += f" (rounds {min(pairs):.2f}–{max(pairs):.2f}×)"
            spread = ""
            if len(mine) > 1:
                vals = sorted(m["hub_cpu_s_per_million"] for _, m in mine)
                spread = f" median of {len(mine)} ({num(vals[0], 2)}–{num(vals[-1], 2)})"
            return (f"**{num(r['hub_cpu_s_per_million'], 2)} CPU-s / M**{spread}{ratio} (CPU "
                    f"{num(r['hub_cpu_pct'])} %, p99 {ms(r['latency_p99_ms'])} ms, "
                    f"{verdict(r)}){tool_mark(r)}")
        row(f"efficiency {transport}: {er['offered_rate']:g} msg/s × {size_of(er)[11:]}, server CPU-s per "
            "million deliveries" if er else f"efficiency {transport}", eff)
    return "\n".join(rows)


def steps_table(runs):
    rows = ["| server | scenario | rate msg/s | deliveries/s | lost | p50 ms | p99 ms | server CPU | "
            "CPU-s / M | server RSS | tool CPU | verdict |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    names = {"a-ws": "(a) WS", "b-sse": "(b) SSE", "c-many": "(c) 1,000 × 10 WS"}
    listed = []  # (scenario name, server label, record)
    for tag in ("a-ws", "b-sse", "c-many"):
        for s, label in SERVERS:
            for r in sorted(runs.get((s, tag), []), key=lambda r: r["offered_rate"]):
                listed.append((names[tag], label, r))
    for tag, name in (("eff-ws", "eff. WS"), ("eff-sse", "eff. SSE")):
        most = max((len(eff_runs(runs, s, tag)) for s, _ in SERVERS), default=0)
        for k in range(most):  # round by round, as they ran
            for s, label in SERVERS:
                mine = eff_runs(runs, s, tag)
                if k < len(mine):
                    listed.append((f"{name} round {mine[k][0]}" if mine[k][0] else name, label, mine[k][1]))
    for scenario, label, r in listed:
        rows.append(
            f"| {label} | {scenario} | {r['offered_rate']:g} | {num(r['delivered_per_s'])} "
            f"| {num(r['lost'])} | {ms(r['latency_p50_ms'])} | {ms(r['latency_p99_ms'])} "
            f"| {num(r['hub_cpu_pct'])} % | {num(r['hub_cpu_s_per_million'], 2)} "
            f"| {num(r['hub_rss_kb'] / 1024)} MB | {num(r['tool_cpu_pct'])} %{tool_mark(r)} "
            f"| {verdict(r)} |")
    return "\n".join(rows)


def report(out_dir):
    runs = load(out_dir)
    machine = read(out_dir, "machine.txt")
    versions = read(out_dir, "versions.txt")
    commands = read(out_dir, "servers.txt") + "\n" + read(out_dir, "commands.txt")
    parts = [
        "### Side by side: livehub, Nchan, Pushpin (`make bench-peers`)",
        "",
        "Generated by `make bench-peers` (bench/peers/run-all.sh + bench/peers/report.py); "
        "rerun it to replace this section. Each server (all its processes) pinned to one core, "
        "`livehub bench` on the other; a fresh server per scenario. \\* = the load tool used "
        "≥ 90 % of its core: that figure is a lower bound for the server.",
        "",
        "```",
        machine,
        versions,
        "```",
        "",
        "#### Summary",
        "",
        summary(runs),
        "",
        "#### Every step of (a), (b), (c)",
        "",
        steps_table(runs),
        "",
        "#### Configs and commands",
        "",
        "Nchan: `bench/peers/nchan.conf.in`; Pushpin: `bench/peers/pushpin.conf.in` + "
        "`bench/peers/grip-backend.mjs` (routes: `* 127.0.0.1:<backend>,over_http`); livehub: "
        "`livehub serve --no-demo` defaults (spawned by the bench; (e) with `store.durability: "
        "memory`). Server CPU and RSS are sums over the server's processes (nginx master + "
        "worker; Pushpin runner, condure, zurl, pushpin-proxy, pushpin-handler; the GRIP "
        "backend, which only answers subscribe requests, is not counted).",
        "",
        "```sh",
        commands,
        "```",
    ]
    return "\n".join(parts)


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    text = report(argv[0])
    if len(argv) >= 3 and argv[1] == "--doc":
        path = argv[2]
        with open(path) as f:
            doc = f.read()
        block = f"{BEGIN}\n{text}\n{END}"
        # The markers count only as whole lines (prose may name them).
        begin = re.search(rf"^{re.escape(BEGIN)}$", doc, re.M)
        end = begin and re.compile(rf"^{re.escape(END)}$", re.M).search(doc, begin.end())
        if begin and end:
            doc = doc[:begin.start()] + block + doc[end.end():]
        else:
            doc = doc.rstrip("\n") + "\n\n" + block + "\n"
        with open(path, "w") as f:
            f.write(doc)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
