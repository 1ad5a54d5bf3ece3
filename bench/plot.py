#!/usr/bin/python3
"""Draws bench/rate_vs_sessions.png from bench/results/accept.json and e2e.json: messages/s
against concurrent sessions, Postfix and mailrelay, one panel per message size, accept rate
(solid) and end-to-end rate (dashed). Uses gnuplot (Debian's gnuplot-nox).

    /usr/bin/python3 bench/plot.py
"""
import json
import os
import subprocess
import tempfile

import benchlib as b

OUT = os.path.join(b.HERE, "rate_vs_sessions.png")


def load(name):
    path = os.path.join(b.HERE, "results", name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["rows"]


def main():
    accept, e2e = load("accept.json"), load("e2e.json")
    sizes = sorted({r["size"] for r in accept + e2e})
    if not sizes:
        raise SystemExit("no results: run bench/accept.py and bench/e2e.py first")
    tmp = tempfile.mkdtemp(prefix="bench-plot-")
    script = ["set terminal pngcairo size %d,480 font 'sans,10'" % (420 * len(sizes)),
              "set output '%s'" % OUT,
              "set multiplot layout 1,%d title 'mailrelay vs Postfix on the same machine (higher is better)'" % len(sizes),
              "set logscale xy", "set grid", "set key top left", "set xlabel 'concurrent sessions'",
              "set ylabel 'messages/s'", "set xtics (1, 10, 50, 200)", "set xrange [0.8:260]"]
    for size in sizes:
        plots = []
        for kind, rows, dash in (("accept", accept, 1), ("end to end", e2e, 2)):
            for name, color in (("postfix", "#c0392b"), ("mailrelay", "#2471a3")):
                points = sorted((r["sessions"], r[name]) for r in rows if r["size"] == size and name in r)
                if not points:
                    continue
                data = os.path.join(tmp, "%s-%s-%d.dat" % (kind.replace(" ", ""), name, size))
                with open(data, "w") as f:
                    f.writelines("%d %f\n" % p for p in points)
                plots.append("'%s' using 1:2 with linespoints dt %d lw 2 pt 7 lc rgb '%s' title '%s %s'"
                             % (data, dash, color, "Postfix" if name == "postfix" else "mailrelay", kind))
        script.append("set title '%s messages'" % b.size_name(size))
        script.append("plot " + ", ".join(plots))
    script.append("unset multiplot")
    path = os.path.join(tmp, "plot.gp")
    with open(path, "w") as f:
        f.write("\n".join(script) + "\n")
    subprocess.run(["gnuplot", path], check=True)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
