#!/usr/bin/python3
"""End-to-end relay rate: smtp-source -> relay -> smtp-sink, for a stock Postfix with
relayhost = the sink and for mailrelay with route = smtp to the same sink, in the same run.
A run ends when the relay's queue is empty AND the sink has counted every message, so the
rate covers acceptance, the durable queue and delivery.

Both relays get the same outbound concurrency (Postfix's default destination concurrency,
20) and keep connections to the upstream open between messages (Postfix: its connection
cache; mailrelay: deliver-smtp's pool).

    /usr/bin/python3 bench/e2e.py [--quick] [--repeat N] [--sizes 1024,102400] [--sessions 10,50]

Writes bench/results/e2e.json and prints a Markdown table.
"""
import argparse
import json
import os
import platform
import time

import benchlib as b

CONCURRENCY = 20


def run_once(name, sink, sessions, n, size):
    if name == "postfix":
        target = b.Postfix(relayhost="[127.0.0.1]:%d" % sink.port, name="e2e-postfix",
                           extra={"default_destination_concurrency_limit": str(CONCURRENCY)})
    else:
        target = b.Mailrelay(route="smtp", smtp_port=sink.port, name="e2e-mailrelay",
                             extra={"smtp": {"concurrency": str(CONCURRENCY)}})
    target.start()
    try:
        before = sink.messages()
        cpu0 = b.cpu_seconds(target.processes())
        t0 = time.monotonic()
        b.smtp_source(target.port, sessions, n, size)
        accepted = time.monotonic() - t0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if sink.messages() - before >= n and target.queued() == 0:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("%s: only %d of %d messages reached the sink" % (name, sink.messages() - before, n))
        total = time.monotonic() - t0
        cpu = b.cpu_seconds(target.processes()) - cpu0
        arrived = sink.messages() - before
        if arrived != n:
            raise RuntimeError("%s: the sink counted %d messages, %d were sent" % (name, arrived, n))
        return {"rate": n / total, "accept_rate": n / accepted, "cpu_s_per_1000": cpu / n * 1000}
    finally:
        target.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer messages per point")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the median is reported")
    ap.add_argument("--sizes", default="1024,102400,2097152", help="message sizes in bytes")
    ap.add_argument("--sessions", default=",".join(str(s) for s in b.SESSIONS), help="concurrent sessions")
    args = ap.parse_args()
    sink = b.SmtpSink()
    rows = []
    try:
        for size in b.parse_list(args.sizes):
            for sessions in b.parse_list(args.sessions):
                n = b.messages_for(size, sessions, args.quick)
                row = {"size": size, "sessions": sessions, "messages": n}
                for name in ("postfix", "mailrelay"):
                    runs = sorted((run_once(name, sink, sessions, n, size) for _ in range(args.repeat)),
                                  key=lambda r: r["rate"])
                    mid = runs[len(runs) // 2]
                    row[name] = round(mid["rate"], 1)
                    row[name + "_runs"] = [round(r["rate"], 1) for r in runs]
                    row[name + "_accept_rate"] = round(mid["accept_rate"], 1)
                    row[name + "_cpu_s_per_1000"] = round(mid["cpu_s_per_1000"], 2)
                row["mailrelay_vs_postfix"] = round(row["mailrelay"] / row["postfix"], 2)
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        sink.stop()
    result = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()}, "concurrency": CONCURRENCY,
              "repeat": args.repeat, "rows": rows}
    print("\nEnd to end, messages/s (median of %d runs; sent until delivered at smtp-sink):" % args.repeat)
    print("| size | sessions | Postfix | mailrelay | mailrelay/Postfix | CPU s/1000 msgs Postfix "
          "| CPU s/1000 msgs mailrelay |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.0f | %.0f | %.2fx | %.2f | %.2f |" % (
            b.size_name(r["size"]), r["sessions"], r["postfix"], r["mailrelay"], r["mailrelay_vs_postfix"],
            r["postfix_cpu_s_per_1000"], r["mailrelay_cpu_s_per_1000"]))
    print("saved", b.save("e2e.json", result))


if __name__ == "__main__":
    main()
