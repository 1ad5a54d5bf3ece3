#!/usr/bin/python3
"""Accept rate: smtp-source against smtp-sink (the protocol's ceiling on this machine: it
stores nothing), a stock Postfix relay and mailrelay, configured alike, in the same run.
Both relays put every message durably on disk before answering 250 (Postfix fsyncs its
queue file; mailrelay commits SQLite with synchronous=FULL) and deliver it cheaply
afterwards (Postfix: the discard transport; mailrelay: deliver-file into tmpfs).

    /usr/bin/python3 bench/accept.py [--quick]

Writes bench/results/accept.json and prints a Markdown table.
"""
import argparse
import json
import os
import platform
import socket
import time

import benchlib as b


def messages_for(size, sessions, quick):
    base = {1024: {1: 300, 10: 3000, 50: 5000}, 102400: {1: 150, 10: 800, 50: 1500}}[size][sessions]
    return max(base // (4 if quick else 1), 50)


def median_rate(run, n, repeat):
    rates = sorted(n / run() for _ in range(repeat))
    return round(rates[len(rates) // 2], 1), rates


def idle_memory(target, n=1000):
    conns = []
    before, _ = target.smtpd_rss_kb()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", target.port), timeout=30)
        s.recv(200)
        conns.append(s)
    time.sleep(0.5)
    after, procs = target.smtpd_rss_kb()
    for s in conns:
        s.close()
    return {"sessions": n, "smtpd_rss_kb_before": before, "smtpd_rss_kb_after": after, "smtpd_processes": procs,
            "kb_per_session": round((after - before) / n, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer messages per point")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the median is reported")
    args = ap.parse_args()
    # Memory first, on fresh instances: after a load, freed buffers stay in the process and
    # would hide what an idle session costs.
    fresh = b.Mailrelay(name="memory")
    fresh.start()
    memory = {"mailrelay": idle_memory(fresh)}
    fresh.stop()
    fresh = b.Postfix(name="memory")
    fresh.start()
    memory["postfix"] = idle_memory(fresh, 90)  # stock default_process_limit = 100
    fresh.stop()
    sink = b.SmtpSink()
    rows = []
    status = {}
    try:
        for size in (1024, 102400):
            for sessions in (1, 10, 50):
                n = messages_for(size, sessions, args.quick)
                row = {"size": size, "sessions": sessions, "messages": n}
                row["sink"] = median_rate(lambda: b.smtp_source(sink.port, sessions, n, size), n, args.repeat)[0]
                for mode, hold in (("", True), ("_delivering", False)):
                    for name in ("postfix", "mailrelay"):
                        rates = []
                        for _ in range(args.repeat):
                            # A fresh instance per run: every run starts from an empty queue.
                            target = b.Postfix(hold=hold) if name == "postfix" else b.Mailrelay(hold=hold)
                            target.start()
                            cpu0 = b.cpu_seconds(target.processes())
                            rates.append(n / b.smtp_source(target.port, sessions, n, size))
                            cpu = b.cpu_seconds(target.processes()) - cpu0
                            if name == "mailrelay" and hold:
                                status = json.loads(os.popen("%s -c %s --json status" % (
                                    os.path.join(os.path.dirname(target.proc.args[0]), "relayctl"),
                                    target.config)).read())
                                for k in ("acknowledgements", "transactions", "fsyncs"):
                                    row.setdefault("commits", {}).setdefault(k, 0)
                                    row["commits"][k] += status["commits"][k]
                            target.stop()
                        rates.sort()
                        row[name + mode] = round(rates[len(rates) // 2], 1)
                        row[name + mode + "_runs"] = [round(x, 1) for x in rates]
                        row[name + mode + "_cpu_ms_per_msg"] = round(cpu / n * 1000, 2)
                row["mailrelay_vs_postfix"] = round(row["mailrelay"] / row["postfix"], 2)
                row["mailrelay_vs_sink"] = round(row["mailrelay"] / row["sink"], 2)
                row["delivering_mailrelay_vs_postfix"] = round(row["mailrelay_delivering"] / row["postfix_delivering"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        sink.stop()
    result = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()}, "rows": rows, "memory": memory}
    print("\nAccept rate, messages/s (median of %d runs; delivery held on both relays):" % args.repeat)
    print("| size | sessions | smtp-sink | Postfix | mailrelay | mailrelay/Postfix | mailrelay/sink |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.0f | %.0f | %.0f | %.2fx | %.2f |" % ("1 KB" if r["size"] == 1024 else "100 KB", r["sessions"],
                                                                   r["sink"], r["postfix"], r["mailrelay"],
                                                                   r["mailrelay_vs_postfix"], r["mailrelay_vs_sink"]))
    print("\nAccept rate while delivering (Postfix: discard transport; mailrelay: deliver-file to tmpfs):")
    print("| size | sessions | Postfix | mailrelay | mailrelay/Postfix |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.0f | %.0f | %.2fx |" % ("1 KB" if r["size"] == 1024 else "100 KB", r["sessions"],
                                                 r["postfix_delivering"], r["mailrelay_delivering"],
                                                 r["delivering_mailrelay_vs_postfix"]))
    print("\nidle sessions: mailrelay %.1f KB/session (one smtpd process); Postfix %.0f KB per smtpd process "
          "(one process per session)" % (memory["mailrelay"]["kb_per_session"],
                                         memory["postfix"]["smtpd_rss_kb_after"] / max(1, memory["postfix"]["smtpd_processes"])))
    for r in rows:
        c = r.get("commits") or {}
        if c.get("fsyncs"):
            print("group commit %s x%d: %.1f acknowledgements per fsync" % (
                "1 KB" if r["size"] == 1024 else "100 KB", r["sessions"], c["acknowledgements"] / c["fsyncs"]))
    print("saved", b.save("accept.json", result))


if __name__ == "__main__":
    main()
