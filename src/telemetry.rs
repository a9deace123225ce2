//! Process metrics for Prometheus (`/metrics`): the names and labels of everything measured, in
//! one place, so the collectors, the store path and the web front record under the same names
//! and an operator's dashboards keep working across releases.
//!
//! Rates (reads per second, ingest rate) are counters: Prometheus derives them with `rate()`.
//! Latencies are histograms with fixed buckets (seconds), so they add up across processes.
//!
//! The recorder is process-wide (the `metrics` facade has one); it is installed when collectors
//! start or a web front is built, whichever comes first. Before that, recording is a no-op.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Microseconds a station's reads took, summed (labels `line`, `station`): over
/// `mes_reads_total` it gives the mean read time. A counter, not a histogram, because a
/// histogram sample per read costs a good part of the read.
pub const READ_MICROSECONDS: &str = "mes_read_microseconds_total";
/// Seconds one poll of a scan class took, from its tick's start to its acknowledgements, commit
/// included (labels `line`, `scan_class`).
pub const SCAN_SECONDS: &str = "mes_scan_seconds";
/// Ticks of a scan class served by a poll (labels `line`, `scan_class`).
pub const SCAN_POLLS: &str = "mes_scan_polls_total";
/// Polls still running when their scan class's next tick came (labels `line`, `scan_class`).
pub const SCAN_OVERRUNS: &str = "mes_scan_overruns_total";
/// Ticks of a scan class that passed without a poll: skipped during overruns or while the link
/// was down, never made up for by a burst (labels `line`, `scan_class`).
pub const SCAN_SKIPPED: &str = "mes_scan_skipped_ticks_total";
/// OPC UA data-change notifications received (label `endpoint`).
pub const OPCUA_NOTIFICATIONS: &str = "mes_opcua_notifications_total";
/// Station reads that decoded (labels `line`, `station`).
pub const READS: &str = "mes_reads_total";
/// Failed reads, writes and undecodable records (labels `line`, `station`).
pub const READ_ERRORS: &str = "mes_read_errors_total";
/// Lost or refused connections to a line's PLCs (label `line`).
pub const LINK_ERRORS: &str = "mes_link_errors_total";
/// 1 while the line's collector is connected (label `line`).
pub const CONNECTED: &str = "mes_collector_connected";
/// 1 while this process collects the line (sole collector or lease holder), 0 while it stands
/// by for another process that holds it (labels `line`, `holder`: this process's name).
pub const LINE_OWNED: &str = "mes_line_owned";
/// Records read but not yet committed and acknowledged (label `line`).
pub const QUEUE_DEPTH: &str = "mes_queue_depth";
/// Unit records committed as new (label `line`): the ingest rate.
pub const RECORDS: &str = "mes_records_ingested_total";
/// Unit records that were already stored (re-deliveries; label `line`).
pub const DUPLICATES: &str = "mes_records_duplicate_total";
/// Seconds one commit of a poll cycle's batch took (label `line`).
pub const COMMIT_SECONDS: &str = "mes_commit_seconds";
/// Failed commits (label `line`); the records stay in the PLCs.
pub const STORE_ERRORS: &str = "mes_store_errors_total";
/// HTTP requests answered (labels `method`, `route`, `status`).
pub const HTTP_REQUESTS: &str = "mes_http_requests_total";
/// Seconds to answer an HTTP request, to the first byte of the body (labels `method`, `route`).
pub const HTTP_SECONDS: &str = "mes_http_request_seconds";
/// Clients connected to `/events`.
pub const EVENT_CLIENTS: &str = "mes_event_clients";
/// Seconds one recomputation of every line's live summary took (the cost of a store change).
pub const LIVE_REFRESH_SECONDS: &str = "mes_live_refresh_seconds";
/// Seconds from a commit (announced by PostgreSQL) to the first live summary showing it, for
/// the oldest new commit of each summary: what a wall screen lags behind the line.
pub const LIVE_COMMIT_TO_PUBLISH_SECONDS: &str = "mes_live_commit_to_publish_seconds";
/// Times the live view woke to look at the store (label `cause`: `notify`, a commit announced
/// by PostgreSQL; `resumed`, catching up after the listening connection was lost; `poll`, the
/// SQLite marker poll; `clock`, figures that move with time).
pub const LIVE_WAKEUPS: &str = "mes_live_wakeups_total";
/// HTTP requests whose client went away before the answer was ready (labels `method`, `route`):
/// their work was stopped.
pub const HTTP_ABANDONED: &str = "mes_http_requests_abandoned_total";
/// Costly work stopped because nobody waited for it any more (label `work`).
pub const WORK_ABANDONED: &str = "mes_work_abandoned_total";
/// Requests refused because every slot for costly work stayed taken (label `route`).
pub const HTTP_BUSY: &str = "mes_http_requests_busy_total";
/// Unit records waiting in a collector host's outbox for the central database (gauge).
pub const OUTBOX_RECORDS: &str = "mes_outbox_backlog_records";
/// Bytes the outbox entries take (gauge).
pub const OUTBOX_BYTES: &str = "mes_outbox_backlog_bytes";
/// The most the outbox may hold (gauge).
pub const OUTBOX_CAPACITY_BYTES: &str = "mes_outbox_capacity_bytes";
/// 1 while the outbox is full and records are not acknowledged (gauge: the alarm).
pub const OUTBOX_FULL: &str = "mes_outbox_full";
/// Age of the oldest entry waiting in the outbox, in seconds (gauge).
pub const OUTBOX_OLDEST_SECONDS: &str = "mes_outbox_oldest_seconds";
/// Unit records forwarded per second in the last forwarding round (gauge).
pub const OUTBOX_FORWARD_RATE: &str = "mes_outbox_forward_records_per_second";
/// Unit records forwarded from the outbox to the central database.
pub const OUTBOX_FORWARDED: &str = "mes_outbox_forwarded_records_total";
/// Times the outbox filled up (records were refused and left in the PLCs).
pub const OUTBOX_REFUSED: &str = "mes_outbox_filled_total";
/// Outbox entries the central database refused again and again, set aside in the quarantine.
pub const OUTBOX_QUARANTINED: &str = "mes_outbox_quarantined_total";
/// Unit records in the outbox's quarantine (gauge: an alarm while above 0).
pub const OUTBOX_QUARANTINED_RECORDS: &str = "mes_outbox_quarantined_records";
/// 1 while a collector host cannot write the central database (gauge).
pub const DATABASE_AWAY: &str = "mes_database_away";
/// Audit ledger entries appended by closing (label `kind`: period, supplement).
pub const LEDGER_ENTRIES: &str = "mes_ledger_entries_total";
/// Automatic closes that failed (retried at the next round).
pub const LEDGER_CLOSE_ERRORS: &str = "mes_ledger_close_errors_total";

/// Latency buckets, 0.5 ms to 10 s.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process's Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(BUCKETS) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "metric buckets refused; summaries instead");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        // Histogram samples wait in per-metric buckets until upkeep folds them in; with nobody
        // scraping `/metrics` they would pile up (a collector records thousands a second).
        let upkeep = handle.clone();
        if let Err(e) = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        }) {
            tracing::warn!(error = %e, "metrics upkeep thread not started; histogram samples wait for a scrape");
        }
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        READ_MICROSECONDS,
        metrics::Unit::Microseconds,
        "Microseconds spent in a station's reads; divided by mes_reads_total, the mean read time."
    );
    describe_histogram!(
        SCAN_SECONDS,
        metrics::Unit::Seconds,
        "Seconds one poll of a scan class took, commit included."
    );
    describe_counter!(SCAN_POLLS, "Ticks of a scan class served by a poll.");
    describe_counter!(SCAN_OVERRUNS, "Polls still running when their scan class's next tick came.");
    describe_counter!(SCAN_SKIPPED, "Ticks of a scan class skipped (overruns, link down), never made up by a burst.");
    describe_counter!(OPCUA_NOTIFICATIONS, "OPC UA data-change notifications received.");
    describe_counter!(READS, "Station reads that decoded.");
    describe_counter!(READ_ERRORS, "Failed station reads, writes and undecodable records.");
    describe_counter!(LINK_ERRORS, "Lost or refused connections to a line's PLCs.");
    describe_gauge!(CONNECTED, "1 while the line's collector is connected to its PLCs.");
    describe_gauge!(LINE_OWNED, "1 while this process collects the line, 0 while it stands by for another holder.");
    describe_gauge!(QUEUE_DEPTH, "Records read but not yet committed and acknowledged.");
    describe_counter!(RECORDS, "Unit records committed as new.");
    describe_counter!(DUPLICATES, "Unit records offered again that were already stored.");
    describe_histogram!(COMMIT_SECONDS, metrics::Unit::Seconds, "Seconds one poll cycle's commit took.");
    describe_counter!(STORE_ERRORS, "Failed commits; the records stay in the PLCs.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered.");
    describe_histogram!(HTTP_SECONDS, metrics::Unit::Seconds, "Seconds to answer an HTTP request.");
    describe_gauge!(EVENT_CLIENTS, "Clients connected to /events.");
    describe_counter!(HTTP_ABANDONED, "HTTP requests whose client went away before the answer; their work stopped.");
    describe_counter!(WORK_ABANDONED, "Costly work stopped because nobody waited for it any more.");
    describe_counter!(HTTP_BUSY, "Requests refused because every slot for costly work stayed taken.");
    describe_counter!(LEDGER_ENTRIES, "Audit ledger entries appended by closing periods.");
    describe_counter!(LEDGER_CLOSE_ERRORS, "Automatic closes of the audit ledger that failed; retried.");
    describe_counter!(LIVE_WAKEUPS, "Times the live view woke to look at the store, by cause.");
    describe_histogram!(
        LIVE_COMMIT_TO_PUBLISH_SECONDS,
        metrics::Unit::Seconds,
        "Seconds from a commit to the first live summary showing it (oldest new commit of each summary)."
    );
    describe_histogram!(
        LIVE_REFRESH_SECONDS,
        metrics::Unit::Seconds,
        "Seconds one recomputation of the live line summaries took."
    );
}
