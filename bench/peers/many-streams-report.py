#!/usr/bin/env python3
"""Prints bench/peers/run-many-streams.sh's figures from `livehub bench --json` lines.

  many-streams-report.py --round FILE RATE SUBS STREAMS
      one line for one run (FILE is named <server>.<round>)
  many-streams-report.py --watch ROOT_PID OUTFILE
      until SIGTERM, samples every process twice a second and then writes to
      OUTFILE the CPU (in % of one core) used meanwhile by processes that do
      not descend from ROOT_PID: on a shared machine, whatever else ran
      during the run (a process that lived less than ~0.5 s is missed)
  many-streams-report.py --summary OUT RATE SUBS STREAMS ROUNDS "SERVERS"
      per round and median per server as a markdown table, and the ratios
      the issue's targets are about (livehub's CPU per delivery against
      Nchan's and uWebSockets.js's, its p99 against Nchan's)
"""
import json
import os
import signal
import statistics
import sys
import time

NAMES = {"livehub": "livehub (defaults, store off)", "nchan": "Nchan", "uws": "uWebSockets.js"}
SATURATED = 90.0  # load tool CPU %: above it the tool, not the server, was the limit
BUSY = 20.0  # % of a core used by other processes during a run: flagged as disturbed


def others(path):
    """% of one core that other processes used during the run (run-many-streams.sh's $f.others)."""
    try:
        with open(path + ".others") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def load(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    # null (not measured) as NaN, so the arithmetic below holds
                    return {k: float("nan") if v is None else v for k, v in json.loads(line).items()}
    except OSError:
        pass
    return None


def problem(path):
    try:
        with open(path) as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("{")]
        return lines[-1] if lines else "no output"
    except OSError:
        return "no output"


def expected_rate(rate, subs, streams):
    return rate * (subs // streams)


def sustained(r, rate, subs, streams):
    """The full rate published and delivered (within 2 %), nothing lost."""
    return (r["publish_rate"] >= 0.98 * rate and r["lost"] == 0 and
            r["delivered_per_s"] >= 0.98 * expected_rate(rate, subs, streams))


def one_line(server, rnd, r, rate, subs, streams, other=float("nan")):
    if r is None:
        return f"round {rnd} {server}: no result"
    exp = expected_rate(rate, subs, streams)
    tool = r["tool_cpu_pct"]
    note = ""
    if tool >= SATURATED:
        note = " SATURATED TOOL: the figures are lower bounds for the server, not a comparison"
    fails = []
    if r.get("subscribers_failed"):
        fails.append(f"{r['subscribers_failed']} subscribers failed")
    if r.get("disconnected"):
        fails.append(f"{r['disconnected']} disconnected")
    if r.get("publish_rejected") or r.get("publish_unanswered"):
        fails.append(f"publishes rejected {r['publish_rejected']}, unanswered {r['publish_unanswered']}")
    if other >= BUSY:
        fails.append(f"DISTURBED: other processes used {other:.0f} % of a core meanwhile")
    elif other == other:
        fails.append(f"other processes {other:.0f} % of a core")
    extra = ("; " + ", ".join(fails)) if fails else ""
    return (f"round {rnd} {server}: {r['hub_cpu_s_per_million']:.2f} CPU-s/M (server CPU {r['hub_cpu_pct']:.0f} %),"
            f" p50 {r['latency_p50_ms']:.2f} ms, p99 {r['latency_p99_ms']:.2f} ms,"
            f" delivered {r['delivered_per_s']:,.0f}/s of {exp:,}/s ({100 * r['delivered_per_s'] / exp:.1f} %),"
            f" published {r['publish_rate']:,.0f}/s of {rate:,}, lost {r['lost']},"
            f" {'sustained' if sustained(r, rate, subs, streams) else 'NOT sustained'},"
            f" {r['subscribers']} subscribers in {r['connect_s']:.1f} s, load tool CPU {tool:.0f} %{note}{extra}")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def summary(out, rate, subs, streams, rounds, servers):
    exp = expected_rate(rate, subs, streams)
    runs = {s: [load(os.path.join(out, f"{s}.{i}")) for i in range(1, rounds + 1)] for s in servers}
    print(f"\nPer round ({streams} streams x {subs // streams} WS subscribers, 100 B, {rate} msg/s;"
          f" expected {exp:,} deliveries/s):\n")
    print("| round | server | CPU-s / M | p50 ms | p99 ms | delivered/s (of expected) | lost | load tool CPU | others |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for i in range(rounds):
        for s in servers:
            r = runs[s][i]
            if r is None:
                print(f"| {i + 1} | {NAMES.get(s, s)} | no result: {problem(os.path.join(out, f'{s}.{i + 1}'))} | | | | | | |")
                continue
            star = " \\*" if r["tool_cpu_pct"] >= SATURATED else ""
            o = others(os.path.join(out, f"{s}.{i + 1}"))
            ostr = "?" if o != o else f"{o:.0f} %" + (" †" if o >= BUSY else "")
            print(f"| {i + 1} | {NAMES.get(s, s)} | {r['hub_cpu_s_per_million']:.2f} | {r['latency_p50_ms']:.2f} |"
                  f" {r['latency_p99_ms']:.2f} | {r['delivered_per_s']:,.0f} ({100 * r['delivered_per_s'] / exp:.1f} %) |"
                  f" {r['lost']} | {r['tool_cpu_pct']:.0f} %{star} | {ostr} |")
    print(f"\nMedians of {rounds} round(s) (range in brackets):\n")
    print("| server | CPU-s / M | p50 ms | p99 ms | delivered/s (of expected) | sustained | lost (total) | load tool CPU | disturbed † |")
    print("|---|---|---:|---|---|---|---:|---|---|")
    medians = {}
    for s in servers:
        ok = [r for r in runs[s] if r is not None]
        if not ok:
            print(f"| {NAMES.get(s, s)} | no result | | | | | | | |")
            continue
        col = lambda k: [r[k] for r in ok]
        m = {k: med(col(k)) for k in ("hub_cpu_s_per_million", "latency_p50_ms", "latency_p99_ms",
                                       "delivered_per_s", "tool_cpu_pct")}
        medians[s] = m
        sat = sum(1 for r in ok if r["tool_cpu_pct"] >= SATURATED)
        held = sum(1 for r in ok if sustained(r, rate, subs, streams))
        cpu = col("hub_cpu_s_per_million")
        p99 = col("latency_p99_ms")
        tool = col("tool_cpu_pct")
        sat_note = f", saturated in {sat} round(s) \\*" if sat else ""
        disturbed = sum(1 for i in range(rounds) if others(os.path.join(out, f"{s}.{i + 1}")) >= BUSY)
        print(f"| {NAMES.get(s, s)} | **{m['hub_cpu_s_per_million']:.2f}** ({min(cpu):.2f}–{max(cpu):.2f}) |"
              f" {m['latency_p50_ms']:.2f} | **{m['latency_p99_ms']:.2f}** ({min(p99):.2f}–{max(p99):.2f}) |"
              f" {m['delivered_per_s']:,.0f} ({100 * m['delivered_per_s'] / exp:.1f} %) | {held}/{len(ok)} rounds |"
              f" {sum(col('lost'))} | {m['tool_cpu_pct']:.0f} % (max {max(tool):.0f} %)"
              f"{sat_note} | {disturbed}/{rounds} rounds |")
    print()
    lh = medians.get("livehub")

    def per_round(peer, key):
        rs = []
        for a, b in zip(runs["livehub"], runs[peer]):
            if a is not None and b is not None and b[key] > 0:
                rs.append(a[key] / b[key])
        return f" (rounds {min(rs):.2f}–{max(rs):.2f}×)" if rs else ""

    if lh and "nchan" in medians:
        n = medians["nchan"]
        print(f"livehub / Nchan CPU per delivery: {lh['hub_cpu_s_per_million'] / n['hub_cpu_s_per_million']:.2f}×"
              f"{per_round('nchan', 'hub_cpu_s_per_million')} (issue 17: below 1)")
        print(f"livehub / Nchan p99: {lh['latency_p99_ms'] / n['latency_p99_ms']:.2f}×"
              f"{per_round('nchan', 'latency_p99_ms')} (issue 17: within 1.5)")
    if lh and "uws" in medians:
        u = medians["uws"]
        print(f"livehub / uWebSockets.js CPU per delivery: {lh['hub_cpu_s_per_million'] / u['hub_cpu_s_per_million']:.2f}×"
              f"{per_round('uws', 'hub_cpu_s_per_million')} (issue 17: within 1.2)")
    if any(others(os.path.join(out, f"{s}.{i + 1}")) >= BUSY for s in servers for i in range(rounds)):
        print(f"† other processes used >= {BUSY:.0f} % of a core during that run (the machine is shared):"
              " its figures are disturbed.")
    if any(r is not None and r["tool_cpu_pct"] >= SATURATED for s in servers for r in runs[s]):
        print(f"\\* the load tool used >= {SATURATED:.0f} % of its core: that run's figures are lower bounds"
              " for the server, not a comparison.")


def watch(root, outfile):
    clk = os.sysconf("SC_CLK_TCK")

    def snapshot():
        procs = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rfind(")") + 2:].split()  # after "pid (comm) "
            procs[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime+stime
        return procs

    def ours(pid, procs):
        while pid > 1:
            if pid == root:
                return True
            pid = procs.get(pid, (0, 0))[0]
        return False

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    start = snapshot()
    base = {pid: t for pid, (_, t) in start.items()}
    last = {}
    while not stop:
        procs = snapshot()
        for pid, (_, t) in procs.items():
            if pid != os.getpid() and not ours(pid, procs):
                last[pid] = t
        time.sleep(0.5)
    ticks = sum(t - base.get(pid, 0) for pid, t in last.items())
    with open(outfile, "w") as f:
        print(f"{100.0 * ticks / clk / max(time.monotonic() - t0, 0.1):.1f}", file=f)


def main():
    if sys.argv[1] == "--watch":
        watch(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "--round":
        path, rate, subs, streams = sys.argv[2], int(float(sys.argv[3])), int(sys.argv[4]), int(sys.argv[5])
        server, rnd = os.path.basename(path).rsplit(".", 1)
        r = load(path)
        line = one_line(server, rnd, r, rate, subs, streams, others(path))
        if r is None:
            line += ": " + problem(path)
        print(line, flush=True)
    else:
        out, rate, subs, streams, rounds = (sys.argv[2], int(float(sys.argv[3])), int(sys.argv[4]),
                                            int(sys.argv[5]), int(sys.argv[6]))
        summary(out, rate, subs, streams, rounds, sys.argv[7].split())


if __name__ == "__main__":
    main()
