#!/usr/bin/env bash
# bench/enum_vs_sslscan.sh - handshakes per edge: `edgeshake enum` beside
# sslscan's connection count on the same loopback nginx (issue 13, DESIGN §4).
#
# Starts nginx (Debian's nginx-light) on 127.140.8.1 with three typical
# configurations and counts, for each tool, the TCP connections nginx
# accepted (stub_status "accepts", read on a plain-HTTP port before and after
# the run), next to enum's own `handshakes` column. Run it in a private
# network namespace: `nsrun bench/enum_vs_sslscan.sh [BUILD_DIR]`.
#
#   intermediate-ecdsa  Mozilla "intermediate": TLS 1.2 + 1.3, its 9 ECDHE/DHE
#                       suites, X25519:prime256v1:secp384r1, ECDSA P-256, h2
#   intermediate-rsa    the same with an RSA 2048 key
#   nginx-default       nginx's defaults (ssl_protocols TLSv1 .. TLSv1.3,
#                       ssl_ciphers HIGH:!aNULL:!MD5), RSA 2048, h2
set -euo pipefail
BUILD=${1:-build}
BIN=$(realpath "$BUILD/edgeshake")
command -v sslscan >/dev/null || { echo "no sslscan (apt-get install sslscan)" >&2; exit 77; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "no nginx (apt-get install nginx-light)" >&2; exit 77; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
DIR=$(mktemp -d)
trap 'kill $(cat "$DIR/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$DIR"' EXIT
IP=127.140.8.1
ip addr add "$IP/32" dev lo 2>/dev/null || true # 127/8 is loopback anyway

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench.test \
    -keyout "$DIR/ec.key" -out "$DIR/ec.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench.test \
    -keyout "$DIR/rsa.key" -out "$DIR/rsa.crt" 2>/dev/null

INTERMEDIATE="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
server() { # PORT KEY PROTOCOLS CIPHERS CURVES
    cat <<EOF
    server {
        listen $IP:$1 ssl http2;
        ssl_certificate $DIR/$2.crt;
        ssl_certificate_key $DIR/$2.key;
        ssl_protocols $3;
        ssl_ciphers $4;
        ${5:+ssl_ecdh_curve $5;}
        ssl_prefer_server_ciphers off;
        location / { return 200 "ok\n"; }
    }
EOF
}
cat >"$DIR/nginx.conf" <<EOF
pid $DIR/nginx.pid;
error_log $DIR/error.log;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $DIR; proxy_temp_path $DIR; fastcgi_temp_path $DIR;
    uwsgi_temp_path $DIR; scgi_temp_path $DIR;
    server { listen $IP:8080; location / { stub_status; } }
$(server 8443 ec "TLSv1.2 TLSv1.3" "$INTERMEDIATE" "X25519:prime256v1:secp384r1")
$(server 8444 rsa "TLSv1.2 TLSv1.3" "$INTERMEDIATE" "X25519:prime256v1:secp384r1")
$(server 8445 rsa "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" "HIGH:!aNULL:!MD5" "")
}
EOF
"$NGINX" -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log"
for _ in $(seq 50); do curl -s "http://$IP:8080/" >/dev/null 2>&1 && break; sleep 0.1; done

accepts() { curl -s "http://$IP:8080/" | awk 'NR == 3 { print $1 }'; }

printf '%-20s %10s %12s %16s %14s\n' config "enum hs" "enum conns" "sslscan conns" "sslscan/enum"
for cfg in intermediate-ecdsa:8443 intermediate-rsa:8444 nginx-default:8445; do
    name=${cfg%%:*} port=${cfg##*:}
    a0=$(accepts)
    "$BIN" enum -q --per-ip 4 "bench.test@$IP" -p "$port" >"$DIR/$name.csv"
    hs=$(awk -F, 'NR == 2 { print $15 }' "$DIR/$name.csv")
    a1=$(accepts)
    sslscan --no-colour "$IP:$port" >/dev/null 2>&1 || true
    a2=$(accepts)
    # each stub_status read is one connection itself: subtract it
    e=$((a1 - a0 - 1)) s=$((a2 - a1 - 1))
    printf '%-20s %10s %12s %16s %13.1fx\n' "$name" "$hs" "$e" "$s" "$(echo "$s / $e" | bc -l)"
    [ -n "${ES_BENCH_SHOW:-}" ] && tail -1 "$DIR/$name.csv" >&2 || true
done
