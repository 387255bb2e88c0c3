#!/usr/bin/env python3
"""gen_scan_csv.py - writes a synthetic scan CSV (DESIGN §3.2 columns, as
src/writer.c's es_row_columns) for the report benchmark of bench/run.

    gen_scan_csv.py --realistic HOSTS OUT [--pool E] [--edges-per-host K]
                    [--variants V] [--window W]
    gen_scan_csv.py ROWS OUT [HOSTS]          (the repeat-heavy shape)

--realistic: what a fleet scan looks like. HOSTS hosts (h0000000.fleet.test,
...) on a pool of E shared edge IPs (default 2000) in three regions; each host
gets K edges (default 4: 2 from eu, 1 from us, 1 from ap, picked by a seeded
hash) and V variants (default 2: tls1.3/h2/sni, tls1.2/h2/sni); ONE attempt
per (host, ip, variant), so a file of HOSTS x K x V rows holds as many
distinct keys. Every host has its own certificate (one cert_sha256 per host).
Four bad nodes: edge 3 refuses connections, edge 10 speaks TLS 1.2 only,
edge 17 serves an expired certificate, edge 24 has strict ALPN (http/1.1), so
the report must find 4 fleet findings. Rows come out as a scanner writes
them: hosts in flight together (a window of W = 64 hosts) interleave.

The repeat-heavy shape (kept for comparison): HOSTS hosts (default 1000) x 5
edge IPs x 4 variants; row i is attempt i // keys + 1 of key i % keys, so 2 x
ROWS rows have the same keys as ROWS rows with twice the attempts.
Deterministic: the same arguments give the same file."""
import hashlib
import sys

COLUMNS = ("time vantage host port ip family resolver ecs sni variant tls_offered "
           "alpn_offered ciphers_offered groups_offered attempt status error alert "
           "alert_name alert_from stage tls_version cipher kx_group alpn verify cert_sha256 "
           "cert_subject cert_issuer cert_not_before cert_not_after ocsp_stapled h2 "
           "dns_ms connect_ms handshake_ms total_ms resolver_addr problem kx_bits cert_key "
           "cert_sig cert_days_left chain_len hello hello_bytes http_status http_server "
           "clock_skew_s h3_advertised").split()
NCOL = len(COLUMNS)


def appended(raddr="", problem="", kx_bits="", key="", sig="", days="", chain=""):
    """The 13 appended columns, with a leading comma (no hello/http data)."""
    return "," + ",".join([raddr, problem, kx_bits, key, sig, days, chain] + [""] * 6)


def realistic(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--realistic", type=int, required=True, metavar="HOSTS")
    ap.add_argument("out")
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--edges-per-host", type=int, default=4)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--window", type=int, default=64)
    a = ap.parse_args(argv)
    regions = [("eu", "10.0.53.1:53"), ("us", "10.0.53.2:53"), ("ap", "10.0.53.3:53")]
    per = [2, 1, 1] if a.edges_per_host == 4 else [a.edges_per_host, 0, 0]
    pool = [f"10.{1 + i // 60000}.{(i // 250) % 240}.{1 + i % 250}" for i in range(a.pool)]
    region_edges = [[e for i, e in enumerate(pool) if i % 3 == r] for r in range(3)]
    bad = {pool[3]: "refuse", pool[10]: "tls12", pool[17]: "expired", pool[24]: "alpn"}
    variants = [("tls1.3/h2/sni", "1.3", "TLS_AES_128_GCM_SHA256"),
                ("tls1.2/h2/sni", "1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"),
                ("tls1.3/http1.1/sni", "1.3", "TLS_AES_128_GCM_SHA256"),
                ("tls1.2/http1.1/sni", "1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")][:a.variants]
    # One %-template per (edge kind, region, variant): host, ip, host, host, sha.
    templates = {}
    for kind in ["ok", "refuse", "tls12", "expired", "alpn"]:
        for label, raddr in regions:
            for vname, tls, cipher in variants:
                alpn = "h2" if "/h2/" in vname else "http/1.1"
                head = (f"2026-11-23T10:00:00.000Z,bench,%(h)s,443,%(ip)s,4,{label},,%(h)s,"
                        f"{vname},{tls},{alpn},,,1,")
                if kind == "refuse":
                    body = ("connect_error,connection_refused,,,,connect" + "," * 13 +
                            "1.250,0.110,,0.110" + appended(raddr, "connect"))
                elif (kind == "tls12" and tls == "1.3") or (kind == "alpn" and alpn == "h2"):
                    code, name = (70, "protocol_version") if kind == "tls12" else (
                        120, "no_application_protocol")
                    body = (f"alert,{name},{code},{name},peer,client_hello" + "," * 13 +
                            "1.250,0.120,0.600,0.720" + appended(raddr, "tls"))
                else:
                    verify = "expired" if kind == "expired" else "ok"
                    body = (f"ok,,,,,finished,{tls},{cipher},X25519,{alpn},{verify},%(sha)s,"
                            f"CN=%(h)s,CN=Bench CA,2026-01-01T00:00:00Z,2027-01-01T00:00:00Z,"
                            f"no,,1.250,0.210,1.830,2.040" +
                            appended(raddr, "verify" if verify != "ok" else "", "253", "ec256",
                                 "ecdsa-with-SHA256", "39", "2"))
                templates[kind, label, vname] = head + body + "\n"
    vnames = [v[0] for v in variants]
    sizes = [len(e) for e in region_edges]

    def host_rows(n):
        host = f"h{n:07d}.fleet.test"
        sha = hashlib.blake2b(host.encode(), digest_size=32).hexdigest()
        seed = int.from_bytes(sha[:16].encode(), "little")
        rows = []
        for r, (label, _) in enumerate(regions):
            start = (seed >> (8 * r)) % sizes[r]
            for j in range(per[r]):
                ip = region_edges[r][(start + j) % sizes[r]]
                kind = bad.get(ip, "ok")
                d = {"h": host, "ip": ip, "sha": sha}
                for vname in vnames:
                    rows.append(templates[kind, label, vname] % d)
        return rows

    with open(a.out, "w", buffering=1 << 22) as f:
        f.write(",".join(COLUMNS) + "\n")
        for base in range(0, a.realistic, a.window):
            block = [host_rows(n) for n in range(base, min(base + a.window, a.realistic))]
            # hosts in flight together: their rows interleave
            f.write("".join(r for rows in zip(*block) for r in rows))


VARIANTS = [("tls1.2/h2/sni", "1.2", "h2"), ("tls1.2/http1.1/sni", "1.2", "http/1.1"),
            ("tls1.3/h2/sni", "1.3", "h2"), ("tls1.3/http1.1/sni", "1.3", "http/1.1")]
SHA = "ab" * 32


def repeat_heavy(argv):
    rows = int(argv[0])
    out = argv[1]
    nhosts = int(argv[2]) if len(argv) > 2 else 1000
    keys = []
    for h in range(nhosts):
        host = f"h{h}.bench.test"
        for e in range(1, 6):
            ip = f"127.30.{h % 250}.{e}"
            for vname, tls, alpn in VARIANTS:
                head = (f"2026-11-23T10:00:00.000Z,bench,{host},443,{ip},4,eu;us,,{host},"
                        f"{vname},{tls},{alpn},,,")
                ok = (f",ok,,,,,finished,{tls},"
                      f"{'TLS_AES_128_GCM_SHA256' if tls == '1.3' else 'ECDHE-ECDSA-AES128-GCM-SHA256'},"
                      f"X25519,{alpn},ok,{SHA},CN={host},CN=Bench CA,2026-01-01T00:00:00Z,"
                      f"2027-01-01T00:00:00Z,no,,1.250,0.210,1.830,2.040"
                      f"{appended('', '', '253', 'ec256', '', '39', '2')}\n")
                fail = None
                if e == 5 and vname == "tls1.2/h2/sni":
                    fail = (",alert,,40,handshake_failure,peer,server_hello,,,,,,,,,,,,,"
                            f"1.250,0.200,0.900,1.100{appended('', 'tls')}\n")
                elif e == 3 and h % 7 == 0 and vname == "tls1.3/h2/sni":
                    fail = ("|3", ",tls_error,connection_reset,,,,client_hello,,,,,,,,,,,,,"
                            f"1.250,0.200,0.500,0.700{appended('', 'tls')}\n")
                keys.append((head, ok, fail))
    nkeys = len(keys)
    with open(out, "w", buffering=1 << 20) as f:
        f.write(",".join(COLUMNS) + "\n")
        buf = []
        for i in range(rows):
            head, ok, fail = keys[i % nkeys]
            attempt = i // nkeys + 1
            tail = ok
            if fail is not None:
                if isinstance(fail, tuple):
                    if attempt % 3 == 0:
                        tail = fail[1]
                else:
                    tail = fail
            buf.append(f"{head}{attempt}{tail}")
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def main():
    if any(x.startswith("--realistic") for x in sys.argv[1:]):
        realistic(sys.argv[1:])
    else:
        repeat_heavy(sys.argv[1:])


if __name__ == "__main__":
    main()
