#!/usr/bin/python3
"""Latency of one message at one session: the time from MAIL FROM to the 250 after the
final dot, as a client sees it, for a stock Postfix and mailrelay configured alike (both
deliver: Postfix to its discard transport, mailrelay to deliver-file in tmpfs), in the
same run. One SMTP session sends every message in turn; p50 and p99 are reported.

    /usr/bin/python3 bench/latency.py [--messages N] [--sizes 1024,102400]

Writes bench/results/latency.json and prints a Markdown table.
"""
import argparse
import json
import os
import platform
import smtplib
import time

import benchlib as b


def body_of(size, i):
    head = "From: bench@example.org\r\nTo: user@example.com\r\nSubject: latency %d\r\n\r\n" % i
    line = "La de da de da 1234567890 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def latencies(port, size, n):
    out = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("bench.example")
        for i in range(n + 20):
            data = body_of(size, i)
            t = time.perf_counter()
            s.sendmail("bench@example.org", ["user@example.com"], data)
            if i >= 20:  # the first messages warm caches and the queue files up
                out.append((time.perf_counter() - t) * 1000)
    return sorted(out)


def pct(values, p):
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--sizes", default="1024,102400")
    args = ap.parse_args()
    rows = []
    for size in b.parse_list(args.sizes):
        row = {"size": size, "messages": args.messages}
        for name in ("postfix", "mailrelay"):
            target = b.Postfix(name="latency") if name == "postfix" else b.Mailrelay(name="latency")
            target.start()
            try:
                values = latencies(target.port, size, args.messages)
            finally:
                target.stop()
            row[name + "_p50_ms"] = round(pct(values, 50), 2)
            row[name + "_p99_ms"] = round(pct(values, 99), 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\nLatency of one message at one session, ms (MAIL FROM to the 250 after the dot):")
    print("| size | Postfix p50 | Postfix p99 | mailrelay p50 | mailrelay p99 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.2f | %.2f | %.2f | %.2f |" % (b.size_name(r["size"]), r["postfix_p50_ms"], r["postfix_p99_ms"],
                                                   r["mailrelay_p50_ms"], r["mailrelay_p99_ms"]))
    print("saved", b.save("latency.json", {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
                                           "rows": rows}))


if __name__ == "__main__":
    main()
