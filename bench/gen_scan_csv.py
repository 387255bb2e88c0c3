#!/usr/bin/env python3
"""gen_scan_csv.py - writes a synthetic scan CSV (DESIGN §3.2 columns) for the
report benchmark of bench/run.

    gen_scan_csv.py ROWS OUT [HOSTS]

Keys: HOSTS hosts (default 1000) x 5 edge IPs x 4 variants. Row i is attempt
i // keys + 1 of key i % keys, so a file of 2 * ROWS rows has the same keys
as one of ROWS rows, with twice the attempts. Planted failures, so the report
has work to do: on every host, edge .5 gets alert 40 on the TLS 1.2 h2
variant (a node finding); every 7th host has edge .3 reset on one of three
attempts of tls1.3/h2 (intermittent)."""
import sys

COLUMNS = ("time vantage host port ip family resolver ecs sni variant tls_offered "
           "alpn_offered ciphers_offered groups_offered attempt status error alert "
           "alert_name alert_from stage tls_version cipher group alpn verify cert_sha256 "
           "cert_subject cert_issuer cert_not_before cert_not_after ocsp_stapled h2 "
           "dns_ms connect_ms handshake_ms total_ms").split()
VARIANTS = [("tls1.2/h2/sni", "1.2", "h2"), ("tls1.2/http1.1/sni", "1.2", "http/1.1"),
            ("tls1.3/h2/sni", "1.3", "h2"), ("tls1.3/http1.1/sni", "1.3", "http/1.1")]
SHA = "ab" * 32


def main():
    rows = int(sys.argv[1])
    out = sys.argv[2]
    nhosts = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    # Per key: the row text before the attempt and the two tails (ok / failing).
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
                      f"2027-01-01T00:00:00Z,no,,1.250,0.210,1.830,2.040\n")
                fail = None
                if e == 5 and vname == "tls1.2/h2/sni":
                    fail = (",alert,,40,handshake_failure,peer,server_hello,,,,,,,,,,,,,"
                            "1.250,0.200,0.900,1.100\n")
                elif e == 3 and h % 7 == 0 and vname == "tls1.3/h2/sni":
                    fail = ("|3", ",tls_error,connection_reset,,,,client_hello,,,,,,,,,,,,,"
                            "1.250,0.200,0.500,0.700\n")
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


if __name__ == "__main__":
    main()
