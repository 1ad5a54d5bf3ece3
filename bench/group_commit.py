#!/usr/bin/python3
"""Group-commit scaling: how mailrelay's accept rate grows with concurrent sessions past
the number of fsyncs the disk can do. Delivery is held (the agent is frozen) so only
acceptance is measured; every 250 still waits for its fdatasync.

For each session count: accepted messages/s, spool fsyncs/s, and acknowledgements per
fsync (from relayctl status), next to the disk's own rate of write+fdatasync of one block
in the same directory, measured first.

    /usr/bin/python3 bench/group_commit.py [--quick] [--repeat N] [--write-iops N]

--write-iops N runs the relay (and the disk probe) in a block-I/O cgroup that allows N
write operations per second on the spool's disk: a slow disk (a spinning disk, a network
volume) on any machine, to show acceptance past the disk's fsync rate.

Writes bench/results/group_commit.json and prints a Markdown table.
"""
import argparse
import json
import os
import platform
import subprocess
import tempfile
import time

import benchlib as b

SESSIONS = (1, 2, 5, 10, 20, 50, 100, 200)


PROBE = """
import os, sys, tempfile, time
with tempfile.NamedTemporaryFile(prefix="bench-fsync-") as f:
    block = os.urandom(4096)
    n = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < float(sys.argv[1]):
        os.pwrite(f.fileno(), block, (n % 256) * 4096)
        os.fdatasync(f.fileno())
        n += 1
    print(n / (time.monotonic() - t0))
"""


def disk_fsync_rate(preexec_fn=None, seconds=3.0):
    """write(4 KB) + fdatasync in a loop on a file next to where the spools live, in a
    process of its own so that it runs under the same throttle as the relay."""
    out = subprocess.run(["/usr/bin/python3", "-c", PROBE, str(seconds)], capture_output=True, text=True,
                         check=True, preexec_fn=preexec_fn).stdout
    return float(out)


def commits(target):
    relayctl = os.path.join(os.path.dirname(target.proc.args[0]), "relayctl")
    out = subprocess.run([relayctl, "-c", target.config, "--json", "status"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)["commits"]


def postfix_rate(sessions, n, preexec_fn):
    """Postfix on the same disk, delivery held: it fsyncs one queue file per message."""
    target = b.Postfix(hold=True, name="group-commit-postfix", preexec_fn=preexec_fn)
    target.start()
    try:
        return round(n / b.smtp_source(target.port, sessions, n, 1024), 1)
    finally:
        target.stop()


def measure(sessions, n, preexec_fn):
    target = b.Mailrelay(hold=True, name="group-commit", preexec_fn=preexec_fn)
    target.start()
    try:
        c0 = commits(target)
        elapsed = b.smtp_source(target.port, sessions, n, 1024)
        c1 = commits(target)
    finally:
        target.stop()
    fsyncs = c1["fsyncs"] - c0["fsyncs"]
    acks = c1["acknowledgements"] - c0["acknowledgements"]
    return {"sessions": sessions, "messages": n, "accepted_per_s": round(n / elapsed, 1),
            "fsyncs_per_s": round(fsyncs / elapsed, 1), "acks_per_fsync": round(acks / max(1, fsyncs), 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer messages per point")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the median is reported")
    ap.add_argument("--write-iops", type=int, help="throttle the spool's disk to this many writes per second")
    ap.add_argument("--postfix", action="store_true", help="also measure Postfix's accept rate on the same disk")
    args = ap.parse_args()
    throttle = b.ThrottledDisk(tempfile.gettempdir(), args.write_iops) if args.write_iops else None
    enter = throttle.enter if throttle else None
    try:
        run(args, enter)
    finally:
        if throttle:
            throttle.close()


def run(args, enter):
    disk = disk_fsync_rate(enter)
    print("disk: %.0f write+fdatasync/s%s" % (disk, " (throttled to %d write IOPS)" % args.write_iops
                                              if args.write_iops else ""), flush=True)
    rows = []
    for sessions in SESSIONS:
        n = max(200, min(6000, sessions * 60)) // (4 if args.quick else 1)
        if args.write_iops:  # a slow disk: fewer messages keep each point to seconds
            n = max(100, n // 4)
        runs = sorted((measure(sessions, n, enter) for _ in range(args.repeat)), key=lambda r: r["accepted_per_s"])
        row = runs[len(runs) // 2]
        row["vs_disk_fsync_rate"] = round(row["accepted_per_s"] / disk, 2)
        row["accepted_per_s_runs"] = [r["accepted_per_s"] for r in runs]
        if args.postfix:
            row["postfix_accepted_per_s"] = sorted(postfix_rate(sessions, n, enter)
                                                   for _ in range(args.repeat))[args.repeat // 2]
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release()}, "disk_fsyncs_per_s": round(disk, 1),
              "write_iops_limit": args.write_iops, "rows": rows}
    print("\nGroup commit, 1 KB messages, delivery held (disk: %.0f fdatasync/s):" % disk)
    print("| sessions | accepted/s | fsyncs/s | acks per fsync | accepted/s ÷ disk fsync rate |%s"
          % (" Postfix accepted/s |" if args.postfix else ""))
    print("|---|---|---|---|---|%s" % ("---|" if args.postfix else ""))
    for r in rows:
        print("| %d | %.0f | %.0f | %.1f | %.2f |%s" % (
            r["sessions"], r["accepted_per_s"], r["fsyncs_per_s"], r["acks_per_fsync"], r["vs_disk_fsync_rate"],
            " %.0f |" % r["postfix_accepted_per_s"] if args.postfix else ""))
    print("saved", b.save("group_commit%s.json" % ("_slow_disk" if args.write_iops else ""), result))


if __name__ == "__main__":
    main()
