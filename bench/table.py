#!/usr/bin/env python3
"""table.py - the one table of bench/run, from the files it left in its work
directory. Every figure printed here was measured in the same run.

    table.py WORKDIR N ROUNDS SCALE MACHINE NETNS [LOAD]
"""
import os
import statistics
import sys

W, N, ROUNDS, SCALE, MACHINE, NETNS = sys.argv[1:7]
LOAD = sys.argv[7] if len(sys.argv) > 7 else ""

TOOLS = [
    ("edgeshake", "edgeshake bench -t 1 -c 64 --no-verify"),
    ("tls_perf", "tls-perf -l 64 -t 1 (tempesta-tech, epoll)"),
    ("s_time", "openssl s_time -new (1 connection at a time)"),
    ("h2load", f"h2load -n {N} -c {N} -m 1 (+1 HTTP/2 request each)"),
    ("blocking", "blocking OpenSSL loop (bench/blocking_client.c)"),
    ("edgeshake_t2", "edgeshake bench -t 2 -c 64 --no-verify"),
    ("edgeshake_verify", "edgeshake bench -t 1 -c 64, verify on (--ca-file)"),
    ("edgeshake_rsa", "edgeshake bench -t 1, RSA-2048 certificate"),
    ("blocking_rsa", "blocking OpenSSL loop, RSA-2048 certificate"),
]


def read(name):
    path = os.path.join(W, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def read_tagged(name, tag, fields):
    """Lines of name that start with tag and have the given number of fields."""
    return [f for f in read(name) if f and f[0] == tag and len(f) == fields]


def median_figures():
    """tool -> (cpu_us_per_hs, hs_per_s, rounds) medians over the rounds."""
    per = {}
    for tool, _r, hs, wall, user, sys_, _rss in read("results.txt"):
        hs, wall, cpu = int(hs), float(wall), float(user) + float(sys_)
        per.setdefault(tool, []).append((cpu * 1e6 / hs, hs / wall))
    out = {}
    for tool, v in per.items():
        out[tool] = (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                     len(v))
    return out


def crypto_floor():
    """(X25519 op µs, ECDSA P-256 verify µs) from openssl speed, or None."""
    x25519 = verify = None
    for f in read("speed.txt"):
        line = " ".join(f)
        if "ecdh (X25519)" in line:
            x25519 = 1e6 / float(f[-1])
        if "ecdsa (nistp256)" in line:
            verify = 1e6 / float(f[-1])
    if x25519 is None or verify is None:
        return None
    return x25519, verify


def main():
    out = []
    p = out.append
    p("edgeshake bench suite (bench/run)")
    p(f"machine: {MACHINE}")
    p(f"network: {'private namespace (unshare -n), loopback' if NETNS == '1' else 'loopback'}")
    if LOAD:
        p(f"machine load: {LOAD}")
    for f in read("pinning.txt"):
        p("pinning: " + " ".join(f))
    for f in read("tlsperf.txt"):
        p(" ".join(f))
    p("")
    fig = median_figures()
    floor = crypto_floor()
    p(f"Full TLS 1.3 handshakes to one loopback nginx (1 worker, ECDSA P-256 unless noted, "
      f"no tickets, no session cache),")
    p(f"{N} handshakes per run (s_time: a fixed time), median of {ROUNDS} interleaved rounds; "
      "client CPU = user+sys of the")
    p("client process from wait4(2), per completed handshake; handshakes/s = handshakes / "
      "wall time of the process.")
    p("")
    p(f"{'client':<52} {'CPU us/hs':>9} {'hs/s':>8} {'CPU vs es':>9} {'hs/s vs es':>10}")
    p("-" * 92)
    base = fig.get("edgeshake")
    for tool, label in TOOLS:
        if tool not in fig:
            p(f"{label:<52} {'(failed)':>9}")
            continue
        cpu, rate, _n = fig[tool]
        rc = f"{cpu / base[0]:.2f}x" if base else "-"
        rr = f"{rate / base[1]:.2f}x" if base else "-"
        p(f"{label:<52} {cpu:9.0f} {rate:8.0f} {rc:>9} {rr:>10}")
    if floor:
        x, v = floor
        p(f"{'crypto floor: X25519 keygen+derive + 1 P-256 verify':<52} {2 * x + v:9.0f}")
        p(f"{'crypto floor with chain validation (+1 verify)':<52} {2 * x + 2 * v:9.0f}")
        p(f"  (openssl speed: X25519 {x:.1f} us per operation, ECDSA P-256 verify {v:.1f} us)")
    p("")

    # Targets of DESIGN §4.
    def met(ok):
        return "met" if ok else "NOT met"

    p("DESIGN §4 targets")
    if base:
        cpu = base[0]
        p(f"  client CPU per handshake (ECDSA, TLS 1.3, no verify) <= 250 us: {cpu:.0f} us "
          f"-> {met(cpu <= 250)}")
        if "blocking" in fig:
            r = cpu / fig["blocking"][0]
            p(f"    <= 0.45x the blocking OpenSSL loop in the same run: {cpu:.0f} / "
              f"{fig['blocking'][0]:.0f} us = {r:.2f}x -> {met(r <= 0.45)}")
        if "tls_perf" in fig:
            r = cpu / fig["tls_perf"][0]
            p(f"    <= 0.6x tls-perf in the same run: {cpu:.0f} / {fig['tls_perf'][0]:.0f} us = "
              f"{r:.2f}x -> {met(r <= 0.6)}")
        else:
            p("    <= 0.6x tls-perf: no tls-perf column in this run (see above) -> not measured")
        if floor:
            x, v = floor
            f = 2 * x + v
            p(f"    crypto floor {f:.0f} us: edgeshake spends {cpu / f:.1f}x the floor "
              f"(target <= 2.4x: {met(cpu / f <= 2.4)})")
    if base and "edgeshake_verify" in fig:
        r = fig["edgeshake_verify"][0] / base[0]
        p(f"  verification on <= 1.1x off: {fig['edgeshake_verify'][0]:.0f} / {base[0]:.0f} us = "
          f"{r:.2f}x -> {met(r <= 1.1)}")
    if base and "edgeshake_t2" in fig:
        t2 = fig["edgeshake_t2"]
        p(f"  scaling, -t 2 vs -t 1: {t2[0]:.0f} vs {base[0]:.0f} us per handshake "
          f"({t2[0] / base[0]:.2f}x; no per-handshake lock or shared counter grows with -t: "
          f"{met(t2[0] / base[0] <= 1.1)} at <= 1.1x),")
        p(f"    {t2[1]:.0f} vs {base[1]:.0f} handshakes/s ({t2[1] / base[1]:.2f}x; nginx has one "
          f"worker on a 2-core machine, so the server bounds -t 2)")
    for f in read_tagged("lockprof.txt", "lockprof", 4):
        p(f"    lock profile of -t 2 (bench/lockprof.c): {f[2]} lock operations per handshake on "
          f"{f[1]} locks both workers take (process-wide), of {f[3]} in all")

    scale = {r[0]: r[1:] for r in read("scale.txt")}
    if {"nodelay", "delay", "baseline"} <= scale.keys():
        rows0, ok0, wall0 = int(scale["nodelay"][0]), int(scale["nodelay"][1]), float(
            scale["nodelay"][2])
        rows1, ok1, wall1 = int(scale["delay"][0]), int(scale["delay"][1]), float(
            scale["delay"][2])
        rss1, rssb = int(scale["delay"][5]), int(scale["baseline"][5])
        nb = int(scale["baseline"][0])
        ideal = 1.0 + wall0
        per = (rss1 - rssb) / max(1, rows1 - nb)
        p(f"  {rows1} probes in flight (-c {SCALE} -t 1, 20 lab edges, delay=1000): "
          f"{ok1}/{rows1} ok in {wall1:.2f} s;")
        p(f"    ideal = 1 s + {wall0:.2f} s (the same {rows0} handshakes to edges without delay "
          f"at -c 256, {ok0} ok) = {ideal:.2f} s")
        p(f"    wall within 1.3x the ideal: {wall1 / ideal:.2f}x -> "
          f"{'met' if wall1 <= 1.3 * ideal else 'NOT met'}")
        p(f"    (RSS growth over -c while handshakes bound that run: {per:.1f} KB per probe; "
          f"not the memory of a waiting probe, see below)")
        p(f"    scanner CPU for the delayed run: {float(scale['delay'][3]) + float(scale['delay'][4]):.2f} s "
          f"({(float(scale['delay'][3]) + float(scale['delay'][4])) * 1e6 / max(1, ok1):.0f} us per handshake)")
    wait = {r[0]: r[1:] for r in read("waiting.txt")}
    if {"wait_all", "wait_base"} <= wait.keys():
        rows, tmo, wall = int(wait["wait_all"][0]), int(wait["wait_all"][1]), float(
            wait["wait_all"][2])
        rss, rssb, nb = int(wait["wait_all"][5]), int(wait["wait_base"][5]), int(
            wait["wait_base"][0])
        per = (rss - rssb) / max(1, rows - nb)
        p(f"  memory while waiting: {rows} probes to 20 blackhole lab edges, all in flight at once "
          f"(-c {wait['wait_all'][6]} -t 1), {tmo} of them timeout rows after {wall:.1f} s:")
        p(f"    RSS per waiting probe <= 32 KB: peak RSS {rss} KB vs {rssb} KB with {nb} waiting "
          f"-> {per:.1f} KB -> {met(per <= 32)}")
        ssl = {f[1]: (float(f[3]), float(f[4])) for f in read_tagged("ssl_mem.txt", "ssl_mem", 5)}
        if "engine" in ssl:
            ossl = ssl["engine"][0] / 1024
            own = per - ossl
            p(f"    OpenSSL's heap per waiting client SSL (bench/ssl_mem.c, as the engine sets it "
              f"up): {ossl:.1f} KB;")
            p(f"    our own share beside it <= 2 KB: {per:.1f} - {ossl:.1f} = {own:.1f} KB -> "
              f"{met(own <= 2)} (RSS counts touched pages only: a negative share means OpenSSL's "
              f"heap has pages never touched)")
            labels = {
                "no_release": "without SSL_MODE_RELEASE_BUFFERS",
                "free_buffers": "+ SSL_free_buffers() after the ClientHello",
                "read_len_4k": "+ SSL_CTX_set_default_read_buffer_len(4096)",
                "ssl_only": "the SSL object and its BIOs alone (no ClientHello yet)",
            }
            for k, label in labels.items():
                if k in ssl:
                    p(f"      {label:<56} {ssl[k][0] / 1024:6.1f} KB heap "
                      f"({(ssl[k][0] - ssl['engine'][0]) / 1024:+.1f} KB)")
        p(f"    scanner CPU for the waiting run: "
          f"{float(wait['wait_all'][3]) + float(wait['wait_all'][4]):.2f} s")
    rep = read("report.txt")
    if rep:
        p("  report, realistic file (one attempt per key; >= 1,000,000 rows per CPU-second, "
          "<= 100 bytes per distinct (host, ip, variant)):")
        for f in rep:
            rows, wall, user, sys_, rss, findings = f[:6]
            fleet = f[6] if len(f) > 6 else "?"
            cpu = float(user) + float(sys_)
            per_key = int(rss) * 1024 / max(1, int(rows))
            p(f"    {int(rows):,} rows: {float(wall):.2f} s wall, {cpu:.2f} s CPU -> "
              f"{int(rows) / cpu:,.0f} rows per CPU-second "
              f"({'met' if int(rows) / cpu >= 1e6 else 'NOT met'}); peak RSS {int(rss):,} KB -> "
              f"{per_key:.0f} bytes per key ({'met' if per_key <= 100 else 'NOT met'}); "
              f"{findings} findings, {fleet} of them fleet")
    dns = read("dns.txt")
    if dns:
        p("  DNS (bench/dns_bench.sh, lab resolvers; >= 50,000 names x resolvers per second per core):")
        per_core = []
        for f in dns:
            p("    " + " ".join(f))
            if f and f[0].isdigit() and len(f) >= 8:
                try:
                    per_core.append(float(f[-1]))
                except ValueError:
                    pass
        if per_core:
            m = sorted(per_core)[len(per_core) // 2]
            p(f"    median of the rounds: {m:,.0f} resolutions per CPU-second -> {met(m >= 50000)}")
    pipe = read("pipeline.txt")
    if pipe:
        for f in pipe:
            p("  " + " ".join(f))
    perf = read("perf.txt")
    if perf:
        p("  perf record of edgeshake bench -n 1500 (share of CPU samples):")
        p("    by library: " + ", ".join(f"{f[2]} {f[1]}"
                                        for f in read_tagged("perf.txt", "library", 3)))
        names = {
            "ASN1_item_d2i_ex": "certificate parsing (d2i, inclusive)",
            "OSSL_DECODER_CTX_new_for_pkey": "  of which OpenSSL 3.0 decoder set-up",
            "EVP_DigestVerifyFinal": "ECDSA verify of CertificateVerify",
            "EVP_PKEY_generate": "key share generation (X25519)",
            "EVP_PKEY_derive": "key exchange (X25519 derive)",
            "X509_verify_cert": "chain building, even with --no-verify",
            "SSL_new": "SSL_new", "SSL_free": "SSL_free",
            "es_tlsprobe_fill_row": "row columns (certificate fields)",
            "malloc": "malloc (self)", "cfree@GLIBC_2.2.5": "free (self)",
            "_int_free": "_int_free (self)",
            "pthread_rwlock_rdlock@GLIBC_2.2.5": "rwlock rdlock (OpenSSL fetches)",
            "pthread_rwlock_unlock@@GLIBC_2.34": "rwlock unlock",
            "io_uring_submit_and_wait_timeout": "io_uring_enter (kernel I/O)",
        }
        seen = set()
        for f in read_tagged("perf.txt", "symbol", 3):
            if f[2] in seen:  # perf lists a symbol again for its inlined copies
                continue
            seen.add(f[2])
            p(f"    {names.get(f[2], f[2]):<44} {f[1]:>7}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
