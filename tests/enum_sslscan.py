#!/usr/bin/env python3
"""enum_sslscan.py - `edgeshake enum` agrees with sslscan (issue 13, item 3).

Starts nginx (Debian's nginx-light) on 127.140.8.0/24 with three
configurations - Mozilla "intermediate" with an ECDSA key, the same with an
RSA key, and nginx's defaults (TLSv1-TLSv1.3, HIGH:!aNULL:!MD5, RSA) - and
checks, for each, that enum's accepted versions, TLS 1.2 ciphers, TLS 1.3
suites and TLS 1.3 groups equal what sslscan (Debian's sslscan, XML output)
finds. sslscan does not enumerate ALPN; that is checked against nginx's
known list instead. Exit 77 (meson SKIP) with a message when sslscan or
nginx is missing (./dev test installs both when apt can).
"""
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

BIN = os.environ.get("ES_BIN", "build/edgeshake")
IP = "127.140.8.1"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
if not shutil.which("sslscan") or not NGINX:
    print("enum_sslscan: SKIP: needs sslscan and nginx (apt-get install sslscan nginx-light)")
    sys.exit(77)

INTERMEDIATE = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305")
CONFIGS = [
    # name, port, key, protocols, ciphers, curves
    ("intermediate-ecdsa", 8443, "ec", "TLSv1.2 TLSv1.3", INTERMEDIATE, "X25519:prime256v1:secp384r1"),
    ("intermediate-rsa", 8444, "rsa", "TLSv1.2 TLSv1.3", INTERMEDIATE, "X25519:prime256v1:secp384r1"),
    ("nginx-default", 8445, "rsa", "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", "HIGH:!aNULL:!MD5", None),
]
GROUP_NAMES = {"x25519": "X25519", "x448": "X448", "secp256r1": "P-256", "secp384r1": "P-384",
               "secp521r1": "P-521"}


def nginx_conf(d):
    servers = []
    for name, port, key, protos, ciphers, curves in CONFIGS:
        servers.append(f"""
    server {{
        listen {IP}:{port} ssl http2;
        ssl_certificate {d}/{key}.crt;
        ssl_certificate_key {d}/{key}.key;
        ssl_protocols {protos};
        ssl_ciphers {ciphers};
        {"ssl_ecdh_curve " + curves + ";" if curves else ""}
        location / {{ return 200 "ok"; }}
    }}""")
    temps = " ".join(f"{t}_temp_path {d};" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"pid {d}/nginx.pid;\nerror_log {d}/error.log;\nworker_processes 1;\n"
            f"events {{ worker_connections 256; }}\nhttp {{\n    access_log off;\n    {temps}\n"
            + "".join(servers) + "\n}\n")


def enum_row(port):
    out = subprocess.run([BIN, "enum", "-q", f"bench.test@{IP}", "-p", str(port)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1, out
    return rows[0]


def sslscan_sets(port):
    out = subprocess.run(["sslscan", "--no-colour", f"--xml=-", f"{IP}:{port}"],
                         capture_output=True, text=True, timeout=300).stdout
    root = ET.fromstring(out[out.index("<?xml"):] if "<?xml" in out else out)
    versions, c12, s13, groups = set(), set(), set(), set()
    for p in root.iter("protocol"):
        if p.get("type") == "tls" and p.get("enabled") == "1":
            versions.add(p.get("version"))
    for c in root.iter("cipher"):
        if c.get("sslversion") == "TLSv1.2":
            c12.add(c.get("cipher"))
        elif c.get("sslversion") == "TLSv1.3":
            s13.add(c.get("cipher"))
    for g in root.iter("group"):
        if g.get("sslversion") == "TLSv1.3":
            n = g.get("name").split(" ")[0]
            groups.add(GROUP_NAMES.get(n, n))
    return versions, c12, s13, groups


def split(s):
    return set(x for x in s.split(";") if x)


def main():
    d = tempfile.mkdtemp()
    proc = None
    failures = 0
    try:
        for key, args in (("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                          ("rsa", ["-newkey", "rsa:2048"])):
            subprocess.run(["openssl", "req", "-x509", *args, "-nodes", "-days", "2", "-subj",
                            "/CN=bench.test", "-keyout", f"{d}/{key}.key", "-out", f"{d}/{key}.crt"],
                           check=True, capture_output=True)
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(nginx_conf(d))
        subprocess.run([NGINX, "-c", f"{d}/nginx.conf", "-p", d, "-e", f"{d}/error.log"], check=True)
        time.sleep(0.5)
        for name, port, *_ in CONFIGS:
            row = enum_row(port)
            versions, c12, s13, groups = sslscan_sets(port)
            got = {"versions": split(row["versions"]), "ciphers12": split(row["ciphers12"]),
                   "suites13": split(row["suites13"]), "groups": split(row["groups"])}
            want = {"versions": versions, "ciphers12": c12, "suites13": s13, "groups": groups}
            for k in want:
                ok = got[k] == want[k]
                failures += not ok
                print(f"{name} {k}: {'agree' if ok else 'DIFFER'} ({len(got[k])} items)"
                      + ("" if ok else f"\n  enum only: {sorted(got[k] - want[k])}"
                                       f"\n  sslscan only: {sorted(want[k] - got[k])}"))
            alpn = split(row["alpn"])
            ok = alpn == {"h2", "http/1.1", "http/1.0", "http/0.9"}  # nginx's list with http2
            failures += not ok
            print(f"{name} alpn: {'as nginx' if ok else 'DIFFER'} {sorted(alpn)}; "
                  f"{row['handshakes']} handshakes")
    finally:
        try:
            with open(f"{d}/nginx.pid") as f:
                os.kill(int(f.read()), 15)
        except (OSError, ValueError):
            pass
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if failures else 0)


main()
