-- docs/sql/clickhouse.sql - a typed ClickHouse table for scan files (docs/schema.md).
--   clickhouse-client --multiquery < docs/sql/clickhouse.sql
--   clickhouse-client --date_time_input_format=best_effort \
--       --query 'INSERT INTO scan FORMAT CSVWithNames' < scan.csv
--   (a .zst file: INSERT INTO scan FROM INFILE 'scan.csv.zst' COMPRESSION 'zstd'
--    FORMAT CSVWithNames, with the same setting)
-- best_effort parses the RFC 3339 times ("2026-11-23T10:34:56.789Z"). An
-- empty cell is NULL in the Nullable columns and '' in the String ones
-- (input_format_csv_empty_as_default, on by default).
CREATE TABLE scan (
    time            DateTime64(3, 'UTC'),
    vantage         String,
    host            String,
    port            Nullable(UInt16),
    ip              String,
    family          Nullable(UInt8),
    resolver        String,
    ecs             String,
    sni             String,
    variant         String,
    tls_offered     LowCardinality(String),
    alpn_offered    LowCardinality(String),
    ciphers_offered String,
    groups_offered  String,
    attempt         Nullable(UInt32),
    status          LowCardinality(String),
    error           LowCardinality(String),
    alert           Nullable(UInt16),
    alert_name      LowCardinality(String),
    alert_from      LowCardinality(String),
    stage           LowCardinality(String),
    tls_version     LowCardinality(String),
    cipher          LowCardinality(String),
    kx_group        LowCardinality(String),
    alpn            LowCardinality(String),
    verify          LowCardinality(String),
    cert_sha256     String,
    cert_subject    String,
    cert_issuer     String,
    cert_not_before Nullable(DateTime('UTC')),
    cert_not_after  Nullable(DateTime('UTC')),
    ocsp_stapled    LowCardinality(String),
    h2              LowCardinality(String),
    dns_ms          Nullable(Float64),
    connect_ms      Nullable(Float64),
    handshake_ms    Nullable(Float64),
    total_ms        Nullable(Float64),
    resolver_addr   String,
    problem         LowCardinality(String),
    kx_bits         Nullable(UInt32),
    cert_key        LowCardinality(String),
    cert_sig        LowCardinality(String),
    cert_days_left  Nullable(Int32),
    chain_len       Nullable(UInt16),
    hello           LowCardinality(String),
    hello_bytes     Nullable(UInt32),
    http_status     Nullable(UInt16),
    http_server     String,
    clock_skew_s    Nullable(Int64),
    h3_advertised   LowCardinality(String)
)
ENGINE = MergeTree
ORDER BY (host, ip, variant, time);
