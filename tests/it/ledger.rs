//! The investor audit ledger: the database refuses to change what was recorded, closed periods
//! become signed entries of an RFC 6962 log, and verification finds every tampering.

use std::process::Command;

use crate::harness::TestDb;
use crate::store::sample_store;

/// Runs `sql` through the database's own shell (sqlite3, psql), not the application: whether
/// it succeeded, and what the shell said.
fn shell(db: &TestDb, sql: &str) -> (bool, String) {
    let out = match db.dir() {
        Some(dir) => Command::new("sqlite3").arg(dir.join("mes.sqlite")).arg(sql).output(),
        None => Command::new("psql").args([db.url(), "-v", "ON_ERROR_STOP=1", "-qc", sql]).output(),
    }
    .expect("the database shell runs (sqlite3, psql)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_itself_refuses_to_change_or_remove_recorded_rows() {
    for db in TestDb::all().await {
        let (store, _, _) = sample_store(&db, 3, 10, 5).await;
        let at = "'2026-01-01T00:00:00+00:00'";
        // Rows in the tables nothing has written to yet; inserting is what recording is.
        for insert in [
            format!(
                "INSERT INTO validation_answers (station_id, plc_epoch, request_seq, serial, verdict, reason_code, answered_at) \
                 SELECT id, 1, 1, 'X', 'allow', 0, {at} FROM stations WHERE id = (SELECT MIN(id) FROM stations)"
            ),
            format!(
                "INSERT INTO ledger_entries (seq, period_start, period_end, kind, payload, author, prev_hash, hash, signature, created_at) \
                 VALUES (0, {at}, {at}, 'period', '{{}}', 'test', '', 'h0', 's0', {at})"
            ),
            format!("INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES (1, 'r', 'n', {at})"),
            "INSERT INTO ledger_record_hashes (result_id, entry_seq, station, record, hash) VALUES (1, 0, 'FT', 'k', 'h')"
                .to_owned(),
        ] {
            let (ok, said) = shell(&db, &insert);
            assert!(ok, "{}: {insert}: {said}", db.label());
        }
        for table in mes_migrations::RECORDED {
            let key = if table == "ledger_record_hashes" { "result_id" } else { "id" };
            for sql in [
                format!("UPDATE {table} SET {key} = {key} + 0 WHERE {key} = (SELECT MIN({key}) FROM {table})"),
                format!("DELETE FROM {table}"),
            ] {
                let (ok, said) = shell(&db, &sql);
                assert!(!ok && said.contains("recorded data"), "{}: {sql} was not refused: {said}", db.label());
            }
        }
        // A state interval may be closed once; nothing else about it changes.
        let open = "(SELECT MAX(id) FROM state_intervals)";
        for (sql, allowed) in [
            (
                "INSERT INTO state_intervals (station_id, started_at, plc_code, state, e10_state) \
                 SELECT MIN(id), '2030-01-01T00:00:00+00:00', 2, 'running', 'productive' FROM stations"
                    .to_owned(),
                true,
            ),
            (format!("UPDATE state_intervals SET state = 'fault' WHERE id = {open}"), false),
            (format!("UPDATE state_intervals SET ended_at = '2030-01-01T01:00:00+00:00' WHERE id = {open}"), true),
            (format!("UPDATE state_intervals SET ended_at = '2030-01-01T02:00:00+00:00' WHERE id = {open}"), false),
        ] {
            let (ok, said) = shell(&db, &sql);
            assert_eq!(ok, allowed, "{}: {sql}: {said}", db.label());
        }
        let closed = "(SELECT MIN(id) FROM state_intervals WHERE ended_at IS NOT NULL)";
        for sql in [
            format!("UPDATE state_intervals SET ended_at = {at} WHERE id = {closed}"),
            format!("UPDATE state_intervals SET state = 'running' WHERE id = {closed}"),
            "UPDATE state_intervals SET ended_at = NULL".to_owned(),
            "DELETE FROM state_intervals".to_owned(),
        ] {
            let (ok, said) = shell(&db, &sql);
            assert!(!ok && said.contains("recorded data"), "{}: {sql} was not refused: {said}", db.label());
        }
        if db.dir().is_none() {
            for table in mes_migrations::RECORDED.iter().chain(&["state_intervals"]) {
                let (ok, said) = shell(&db, &format!("TRUNCATE {table} CASCADE"));
                assert!(!ok && said.contains("recorded data"), "TRUNCATE {table} was not refused: {said}");
            }
        }
        // Nothing was lost on the way.
        let counts = store.row_counts().await.unwrap();
        assert!(counts["station_results"] > 0 && counts["ledger_entries"] == 1, "{}: {counts:?}", db.label());
        db.cleanup(store).await;
    }
}
