#!/usr/bin/env python3
"""pipeline.py - the streaming pipeline figures of DESIGN §4 (issue 12).

    bench/pipeline.py [BUILD_DIR]        (inside a network namespace: bench/run
                                          does that, or `nsrun python3 ...`)

Starts one `edgeshake lab` with a CDN fleet from bench/gen_fleet_lab.py
(PIPE_HOSTS hosts, default 100,000, on 60 edges behind 3 regional resolvers),
plus a resolver that drops every query and a wildcard host (`host
*.wild.test ...`, docs/lab.md) that answers any number of names, and prints:

  1. time to first probe: a scan of the whole fleet (3 resolvers, one
     variant, -c 64 -t 1) is started, stopped with SIGINT after PIPE_SECONDS
     (default 30); the first probe is the earliest `time` of its rows (a row's
     time is when its probe started), measured from the moment the process
     was started;
  2. probes/s of that scan (probe rows / (end of the last - start of the
     first)) next to `edgeshake bench` against one of the same lab edges
     with the same -c and -t, run for the same time;
  3. a blackholed resolver among three: the first PIPE_ISO_HOSTS hosts
     (default 5,000), scanned to the end through eu, us (the baseline) and
     through eu, us, dead (--dns-timeout 1000 --dns-retries 1: a 2 s
     deadline): the same probes, plus one dns_timeout row per host; the
     slowdown is (wall with dead - the deadline) / wall without, and, steady
     under other work on a shared machine, the ratio of the CPU both runs
     took (client + lab: the cores are the limit of these runs);
  4. peak RSS of --dry-run scans of PIPE_RSS names (default "1000000
     10000000") streamed on stdin through one resolver and the wildcard host
     (two edges each), rows to /dev/null; peak RSS from wait4(2).

Parts 2 and 3 run PIPE_ROUNDS times (default 3), scan and bench (live and
dead) interleaved, and print each round and the median ratio: on a shared
machine one pair of runs says little. Each also prints the lab's own CPU (the
TLS servers and the resolvers are one `edgeshake lab` process on the same
cores) per probe, so that a gap can be told apart from a server that ran out
of CPU. With PIPE_VARIANTS (e.g. "--http-check|--hello pq") the scan of part
2 is also run with each of those options, once per round.

Environment: PIPE_HOSTS, PIPE_SECONDS, PIPE_ISO_HOSTS, PIPE_RSS, PIPE_ROUNDS,
PIPE_VARIANTS, PIPE_SKIP ("first iso rss" to skip parts). Loopback only;
bounded in time."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ES_BUILD_DIR", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
ES = os.path.join(BUILD, "edgeshake")
HOSTS = int(os.environ.get("PIPE_HOSTS", "100000"))
SECONDS = float(os.environ.get("PIPE_SECONDS", "30"))
ISO_HOSTS = int(os.environ.get("PIPE_ISO_HOSTS", "5000"))
RSS = [int(x) for x in os.environ.get("PIPE_RSS", "1000000 10000000").split()]
SKIP = os.environ.get("PIPE_SKIP", "").split()
ROUNDS = max(1, int(os.environ.get("PIPE_ROUNDS", "3")))
VARIANTS = [v.split() for v in os.environ.get("PIPE_VARIANTS", "").split("|") if v.strip()]
LAB_PID = None


def lab_cpu():
    """CPU seconds the lab process has used so far (utime + stime)."""
    try:
        with open(f"/proc/{LAB_PID}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0
NET = "127.240"
RES = {"eu": f"{NET}.53.1:5353", "us": f"{NET}.53.2:5353", "ap": f"{NET}.53.3:5353",
       "dead": f"{NET}.53.9:5353"}


def say(msg):
    print(f"pipeline: {msg}", file=sys.stderr, flush=True)


def parse_time(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def read_rows(path):
    """(probe start, probe end) of every probe row; and the number of DNS error rows."""
    import csv
    probes, dns = [], 0
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] == "dns_error":
                dns += 1
                continue
            t = parse_time(row["time"])
            total = float(row["total_ms"] or 0) / 1000
            probes.append((t, t + total))
    return probes, dns


def rusage_bin():
    """bench/rusage (built by bench/run; built here when missing). Peak RSS must
    come from a small parent: a child forked from this Python process starts
    with Python's pages, and Linux keeps that high-water mark across exec."""
    path = os.path.join(BUILD, "bench", "rusage")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", path, os.path.join(ROOT, "bench", "rusage.c")],
                       check=True)
    return path


def run_wait(argv, stdin=None, timeout=None, interrupt_after=None):
    """Runs argv under bench/rusage; returns (wall seconds, peak RSS KB, exit
    status, start time)."""
    ru_out = tempfile.mktemp(prefix="edgeshake-ru.")
    t0 = time.time()
    p = subprocess.Popen([rusage_bin(), ru_out] + argv, stdin=stdin, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    if interrupt_after:
        try:
            p.wait(timeout=interrupt_after)
        except subprocess.TimeoutExpired:
            # the scan is bench/rusage's child: interrupt it, not rusage
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                for child in f.read().split():
                    os.kill(int(child), signal.SIGINT)
    try:
        err = p.communicate(timeout=timeout or 3600)[1].decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.kill()
        err = p.communicate()[1].decode(errors="replace")
    wall = time.time() - t0
    try:
        with open(ru_out) as f:
            _w, user, sys_, rss, code = f.read().split()[:5]
        os.unlink(ru_out)
        rss, code = int(rss), int(code)
        run_wait.cpu = float(user) + float(sys_)
    except (OSError, ValueError):
        rss, code = 0, -1
        run_wait.cpu = 0
    if code not in (0, 130):
        say(f"{argv[0]} {argv[1]} exited {code}: {err.strip()[-300:]}")
    return wall, rss, code, t0


def scan_argv(targets, resolvers, out, extra=()):
    argv = [ES, "scan", "-q", "-i", targets, "-p", "8443", "--tls", "1.3", "--alpn", "none",
            "--no-verify", "-c", "64", "-t", "1", "--per-ip", "64", "-o", out]
    for r in resolvers:
        argv += ["-r", f"{r}={RES[r]}"]
    return argv + list(extra)


def main():
    if not os.path.exists(ES):
        sys.exit(f"pipeline.py: no {ES}; run ./dev build first")
    w = tempfile.mkdtemp(prefix="edgeshake-pipeline.")
    spec = os.path.join(w, "fleet.lab")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_fleet_lab.py"), "--hosts",
                    str(HOSTS), "--edges", "60", "--net", NET, "--bad", "", spec], check=True)
    names = []
    with open(spec) as f:
        for line in f:
            if line.startswith("host "):
                names.append(line.split()[1])
    with open(spec, "a") as f:
        f.write(f"resolver dead {RES['dead']} fault=drop\n")
        f.write(f"host *.wild.test eu={NET}.1.1,{NET}.1.2\n")
    targets = os.path.join(w, "targets.txt")
    with open(targets, "w") as f:
        f.write("".join(n + "\n" for n in names))
    iso = os.path.join(w, "iso.txt")
    with open(iso, "w") as f:
        f.write("".join(n + "\n" for n in names[:ISO_HOSTS]))
    state = os.path.join(w, "state")
    os.mkdir(state)
    lab = subprocess.Popen([ES, "lab", spec, "--state", state], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(w, "lab.log"), "w"))
    try:
        for _ in range(600):
            if os.path.exists(os.path.join(state, "ready")) or lab.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(os.path.join(state, "ready")):
            sys.exit("pipeline.py: the lab did not start: " + open(os.path.join(w, "lab.log")).read())
        global LAB_PID
        LAB_PID = lab.pid
        measure(w, targets, iso)
    finally:
        lab.send_signal(signal.SIGTERM)
        lab.wait()
        subprocess.run(["rm", "-rf", w])


def scan_once(w, targets, rnd, extra):
    """One scan of the fleet for SECONDS: (probes, span, rate, scan CPU, lab CPU, rss, t0)."""
    out = os.path.join(w, "first.csv")
    say(f"round {rnd}: scan of {HOSTS} hosts {' '.join(extra)}, stopped after {SECONDS:.0f} s")
    lab0 = lab_cpu()
    wall, rss, code, t0 = run_wait(scan_argv(targets, ["eu", "us", "ap"], out, extra),
                                   interrupt_after=SECONDS, timeout=SECONDS + 60)
    lab = lab_cpu() - lab0
    scan_cpu = run_wait.cpu
    probes, _dns = read_rows(out)
    if not probes:
        print(f"  round {rnd}: scan {' '.join(extra)}: no probe rows (exit {code})")
        return None
    first = min(p[0] for p in probes)
    span = max(p[1] for p in probes) - first
    rate = len(probes) / span if span > 0 else 0
    return probes, first, span, rate, scan_cpu, lab, rss, t0


def scan_only(w, targets, rnd, extra):
    got = scan_once(w, targets, rnd, extra)
    if not got:
        return None
    probes, _first, span, rate, scan_cpu, lab, _rss, _t0 = got
    print(f"  round {rnd}: scan {' '.join(extra)}: {len(probes)} probes in {span:.1f} s = "
          f"{rate:.0f} probes/s; client CPU {scan_cpu / len(probes) * 1e6:.0f} us, lab CPU "
          f"{lab / len(probes) * 1e6:.0f} us per probe")
    return rate


def scan_vs_bench(w, targets, rnd, extra):
    """A scan and then edgeshake bench on one of its edges; returns the ratio."""
    got = scan_once(w, targets, rnd, extra)
    if not got:
        return None
    probes, first, span, rate, scan_cpu, lab, rss, t0 = got
    if rnd == 1:
        print(f"  first probe {first - t0:.3f} s after the process started (target <= 1 s: "
              f"{'met' if first - t0 <= 1 else 'NOT met'})")
    say(f"round {rnd}: edgeshake bench against one of the same edges, same -c/-t")
    bout = os.path.join(w, "bench.json")
    lab0 = lab_cpu()
    run_wait([ES, "bench", f"{NET}.1.1:8443", "--tls", "1.3", "--no-verify", "-c", "64",
              "-t", "1", "--duration", str(int(SECONDS)), "-q", "--format", "json", "-o",
              bout], timeout=SECONDS + 60)
    blab = lab_cpu() - lab0
    bench_cpu = run_wait.cpu
    try:
        with open(bout) as f:
            b = json.load(f)
        brate, bhs = b["hs_per_s"], b["handshakes"]
    except (OSError, ValueError, KeyError) as e:
        say(f"bench result unreadable: {e}")
        return None
    ratio = rate / brate if brate else 0
    # What the ratio is on a machine whose cores are all busy (client and lab
    # share them): the inverse ratio of CPU per probe, client plus lab. Other
    # work on a shared machine moves probes/s from run to run, this much less.
    scan_us = (scan_cpu + lab) / len(probes) * 1e6
    bench_us = (bench_cpu + blab) / max(1, bhs) * 1e6
    scan_vs_bench.cpu_ratios.append(bench_us / scan_us if scan_us else 0)
    print(f"  round {rnd}: scan {len(probes)} probes in {span:.1f} s = {rate:.0f} probes/s "
          f"(peak RSS {rss} KB); bench {brate:.0f} handshakes/s -> {ratio:.2f}x; CPU per probe: "
          f"client {scan_cpu / len(probes) * 1e6:.0f} us (DNS, planning, rows included) vs "
          f"{bench_cpu / max(1, bhs) * 1e6:.0f} us, lab (servers and resolvers) "
          f"{lab / len(probes) * 1e6:.0f} vs {blab / max(1, bhs) * 1e6:.0f} us")
    return ratio


scan_vs_bench.cpu_ratios = []


def measure(w, targets, iso):
    print(f"whole pipeline (bench/pipeline.py): {HOSTS} hosts (gen_fleet_lab.py --hosts {HOSTS} "
          f"--edges 60), 3 lab resolvers, TLS 1.3 only, -c 64 -t 1")
    if "first" not in SKIP:
        ratios, extra = [], {}
        for rnd in range(1, ROUNDS + 1):
            r = scan_vs_bench(w, targets, rnd, [])
            if r:
                ratios.append(r)
            for v in VARIANTS:
                got = scan_only(w, targets, rnd, v)
                if got:
                    extra.setdefault(" ".join(v), []).append(got)
        if ratios:
            ratios.sort()
            med = ratios[len(ratios) // 2]
            print(f"  probes/s of the scan vs edgeshake bench, median of {len(ratios)} rounds: "
                  f"{med:.2f}x (target >= 0.9x: {'met' if med >= 0.9 else 'NOT met'}; rounds "
                  f"{', '.join(f'{x:.2f}' for x in ratios)})")
            cr = sorted(scan_vs_bench.cpu_ratios)
            print(f"  the same from CPU per probe (client + lab, all cores busy), median: "
                  f"{cr[len(cr) // 2]:.2f}x (rounds {', '.join(f'{x:.2f}' for x in cr)}): "
                  f"what the scan does at the bench's pace when nothing else runs")
        for v, rates in extra.items():
            rates.sort()
            print(f"  scan with {v}: median {rates[len(rates) // 2]:.0f} probes/s over "
                  f"{len(rates)} rounds")
    if "iso" not in SKIP:
        slows, slows_cpu = [], []
        for rnd in range(1, ROUNDS + 1):
            walls = {}
            for name, res, extra in (("live", ["eu", "us"], []),
                                     ("dead", ["eu", "us", "dead"],
                                      ["--dns-timeout", "1000", "--dns-retries", "1"])):
                say(f"round {rnd}: {ISO_HOSTS} hosts to the end through {','.join(res)}")
                out = os.path.join(w, f"iso-{name}.csv")
                lab0 = lab_cpu()
                walls[name] = run_wait(scan_argv(iso, res, out, extra), timeout=900)[0]
                walls[name + "_cpu"] = (run_wait.cpu, lab_cpu() - lab0)
                probes, dns = read_rows(out)
                walls[name + "_rows"] = (len(probes), dns)
            slow = (walls["dead"] - 2.0) / walls["live"]
            slows.append(slow)
            cpu_live = sum(walls["live_cpu"])
            slows_cpu.append(sum(walls["dead_cpu"]) / cpu_live if cpu_live else 0)
            print(f"  round {rnd}: blackholed resolver among three, {ISO_HOSTS} hosts: "
                  f"{walls['live']:.1f} s ({walls['live_rows'][0]} probes) with eu,us; "
                  f"{walls['dead']:.1f} s ({walls['dead_rows'][0]} probes, "
                  f"{walls['dead_rows'][1]} dns_timeout rows) with eu,us,dead; "
                  f"({walls['dead']:.1f} - 2 s deadline) / {walls['live']:.1f} = {slow:.2f}x; CPU "
                  f"client {walls['live_cpu'][0]:.1f} / {walls['dead_cpu'][0]:.1f} s, lab "
                  f"{walls['live_cpu'][1]:.1f} / {walls['dead_cpu'][1]:.1f} s")
        slows.sort()
        med = slows[len(slows) // 2]
        slows_cpu.sort()
        medc = slows_cpu[len(slows_cpu) // 2]
        print(f"  blackholed resolver among three, median of {len(slows)} rounds: wall {med:.2f}x "
              f"(target <= 1.2x: {'met' if med <= 1.2 else 'NOT met'}); CPU (client + lab) "
              f"{medc:.2f}x ({'met' if medc <= 1.2 else 'NOT met'}): the slowdown when the cores "
              f"are the limit, as here, and other work on them does not move it")
    if "rss" not in SKIP:
        got = []
        for n in RSS:
            say(f"--dry-run of {n} names on stdin (wildcard lab host, 1 resolver)")
            gen = subprocess.Popen(["awk", f"BEGIN{{for(i=0;i<{n};i++) printf \"h%09d.wild.test\\n\", i}}"],
                                   stdout=subprocess.PIPE)
            wall, rss, code, _ = run_wait(
                [ES, "scan", "-q", "-i", "-", "-r", f"eu={RES['eu']}", "--tls", "1.3", "--alpn",
                 "none", "--dry-run", "-o", "/dev/null"], stdin=gen.stdout, timeout=3600)
            gen.stdout.close()
            gen.wait()
            got.append((n, rss, wall))
            print(f"  dry run, {n} hosts: peak RSS {rss} KB, {wall:.1f} s ({n / wall:.0f} hosts/s)")
        if len(got) >= 2:
            print(f"  peak RSS {got[-1][0]} vs {got[0][0]} hosts: {got[-1][1] / got[0][1]:.3f}x "
                  f"(target within 10%)")


if __name__ == "__main__":
    main()
