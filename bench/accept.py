#!/usr/bin/python3
"""Accept rate: smtp-source against smtp-sink (the protocol's ceiling on this machine: it
stores nothing), a stock Postfix relay and mailrelay, configured alike, in the same run.
Both relays put every message durably on disk before answering 250 (Postfix fsyncs its
queue file; mailrelay commits SQLite with synchronous=FULL) and deliver nothing while
acceptance is measured (Postfix: defer_transports; mailrelay: its delivery agent frozen).

Also: memory with 1,000 idle sessions on each relay, and CPU seconds per 1,000 messages.

    /usr/bin/python3 bench/accept.py [--quick] [--repeat N] [--sizes 1024,102400] [--sessions 1,10]

Writes bench/results/accept.json and prints Markdown tables.
"""
import argparse
import json
import os
import platform
import socket
import time

import benchlib as b

IDLE_SESSIONS = 1000


def idle_memory(target, n=IDLE_SESSIONS):
    """Opens n sessions that only read the greeting; the relay's memory before and after."""
    conns = []
    pss_before = b.pss_kb(target.processes())
    smtpd_before, _ = target.smtpd_rss_kb()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", target.port), timeout=60)
        s.recv(200)
        conns.append(s)
    time.sleep(1)
    pss_after = b.pss_kb(target.processes())
    smtpd_after, procs = target.smtpd_rss_kb()
    for s in conns:
        s.close()
    return {"sessions": n, "processes": len(target.processes()), "smtpd_processes": procs,
            "pss_kb_before": pss_before, "pss_kb_after": pss_after,
            "smtpd_rss_kb_before": smtpd_before, "smtpd_rss_kb_after": smtpd_after,
            "kb_per_session": round((pss_after - pss_before) / n, 1)}


def memory():
    # On fresh instances: after a load, freed buffers stay in a process and would hide what an
    # idle session costs. Postfix runs one smtpd process per session and caps them at
    # default_process_limit (100): raised here so it can hold the same 1,000 sessions.
    result = {}
    for name in ("mailrelay", "postfix"):
        target = (b.Mailrelay(name="memory") if name == "mailrelay" else
                  b.Postfix(name="memory", extra={"default_process_limit": str(IDLE_SESSIONS + 100)}))
        target.start()
        try:
            result[name] = idle_memory(target)
        finally:
            target.stop()
        print(name, json.dumps(result[name]), flush=True)
    return result


def run_relay(name, sessions, n, size):
    """One run on a fresh instance (an empty queue): rate, CPU, group-commit counters."""
    target = b.Postfix(hold=True) if name == "postfix" else b.Mailrelay(hold=True)
    target.start()
    try:
        cpu0 = b.cpu_seconds(target.processes())
        rate = n / b.smtp_source(target.port, sessions, n, size)
        run = {"rate": rate, "cpu_s_per_1000": (b.cpu_seconds(target.processes()) - cpu0) / n * 1000}
        if name == "mailrelay":
            run["commits"] = target.status()["commits"]
        return run
    finally:
        target.stop()


def median(runs, key="rate"):
    runs = sorted(runs, key=lambda r: r[key])
    return runs[len(runs) // 2], [round(r[key], 1) for r in runs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer messages per point")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the median is reported")
    ap.add_argument("--sizes", default="1024,102400,2097152", help="message sizes in bytes")
    ap.add_argument("--sessions", default=",".join(str(s) for s in b.SESSIONS), help="concurrent sessions")
    ap.add_argument("--no-memory", action="store_true", help="skip the idle-session memory measurement")
    args = ap.parse_args()
    mem = {} if args.no_memory else memory()
    sink = b.SmtpSink()
    rows = []
    try:
        for size in b.parse_list(args.sizes):
            for sessions in b.parse_list(args.sessions):
                n = b.messages_for(size, sessions, args.quick)
                row = {"size": size, "sessions": sessions, "messages": n}
                row["sink"], row["sink_runs"] = median(
                    [{"rate": n / b.smtp_source(sink.port, sessions, n, size)} for _ in range(args.repeat)])
                row["sink"] = round(row["sink"]["rate"], 1)
                for name in ("postfix", "mailrelay"):
                    mid, row[name + "_runs"] = median([run_relay(name, sessions, n, size) for _ in range(args.repeat)])
                    row[name] = round(mid["rate"], 1)
                    row[name + "_cpu_s_per_1000"] = round(mid["cpu_s_per_1000"], 2)
                    if "commits" in mid:
                        c = mid["commits"]
                        row["acks_per_fsync"] = round(c["acknowledgements"] / max(1, c["fsyncs"]), 1)
                row["mailrelay_vs_postfix"] = round(row["mailrelay"] / row["postfix"], 2)
                row["mailrelay_vs_sink"] = round(row["mailrelay"] / row["sink"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        sink.stop()
    result = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()}, "repeat": args.repeat,
              "rows": rows, "memory": mem}
    print("\nAccept rate, messages/s (median of %d runs; delivery held on both relays):" % args.repeat)
    print("| size | sessions | smtp-sink | Postfix | mailrelay | mailrelay/Postfix | mailrelay/sink "
          "| CPU s/1000 msgs Postfix | CPU s/1000 msgs mailrelay | acks per fsync |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.0f | %.0f | %.0f | %.2fx | %.2f | %.2f | %.2f | %.1f |" % (
            b.size_name(r["size"]), r["sessions"], r["sink"], r["postfix"], r["mailrelay"], r["mailrelay_vs_postfix"],
            r["mailrelay_vs_sink"], r["postfix_cpu_s_per_1000"], r["mailrelay_cpu_s_per_1000"], r["acks_per_fsync"]))
    if mem:
        print("\nMemory with %d idle sessions (PSS of every process of the relay, KB):" % IDLE_SESSIONS)
        print("| relay | processes | PSS before | PSS with the sessions | per session |")
        print("|---|---|---|---|---|")
        for name in ("postfix", "mailrelay"):
            m = mem[name]
            print("| %s | %d | %d | %d | %.1f KB |" % (name, m["processes"], m["pss_kb_before"], m["pss_kb_after"],
                                                       m["kb_per_session"]))
    print("saved", b.save("accept.json", result))


if __name__ == "__main__":
    main()
