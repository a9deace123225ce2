//! The audit ledger's other tables, and the database refusing to change what was recorded.
//!
//! `ledger_checkpoints`: every signed tree head, in order. `ledger_record_hashes`: the hash of
//! each station result a closed period counted, so verification names the record that changed.
//!
//! Triggers, on SQLite and PostgreSQL alike, refuse UPDATE and DELETE of station results and
//! everything recorded with them (defects, measurements, genealogy edges), counter samples,
//! validation answers, ledger entries, checkpoints and record hashes (and TRUNCATE on
//! PostgreSQL); a state interval may only go from open to closed, once. The application never
//! needs more, and a person with a plain SQL connection gets the same refusal.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerCheckpoints {
    Table,
    Id,
    Size,
    Root,
    Note,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerRecordHashes {
    Table,
    ResultId,
    EntrySeq,
    Station,
    Record,
    Hash,
}

/// Tables whose rows are never changed or removed once written.
pub const RECORDED: [&str; 9] = [
    "station_results",
    "station_result_defects",
    "station_result_measurements",
    "genealogy_edges",
    "counter_samples",
    "validation_answers",
    "ledger_entries",
    "ledger_checkpoints",
    "ledger_record_hashes",
];

/// A state interval may change once: from open to closed, its end (and a reason it lacked)
/// set, nothing else.
const INTERVAL_CLOSES: &str = "OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL \
     AND NEW.id = OLD.id AND NEW.station_id = OLD.station_id AND NEW.started_at = OLD.started_at \
     AND NEW.plc_code = OLD.plc_code AND NEW.state = OLD.state AND NEW.e10_state = OLD.e10_state \
     AND NEW.fault_code IS NOT DISTINCT FROM OLD.fault_code \
     AND (OLD.reason IS NULL OR NEW.reason IS NOT DISTINCT FROM OLD.reason)";

fn sqlite_triggers() -> Vec<String> {
    let mut out = Vec::new();
    for table in RECORDED {
        for op in ["UPDATE", "DELETE"] {
            out.push(format!(
                "CREATE TRIGGER mes_refuse_{op_l}_{table} BEFORE {op} ON {table} \
                 BEGIN SELECT RAISE(ABORT, '{table} is recorded data: {op} refused'); END",
                op_l = op.to_lowercase()
            ));
        }
    }
    // SQLite spells IS NOT DISTINCT FROM as IS.
    let closes = INTERVAL_CLOSES.replace("IS NOT DISTINCT FROM", "IS");
    out.push(format!(
        "CREATE TRIGGER mes_refuse_update_state_intervals BEFORE UPDATE ON state_intervals \
         WHEN NOT ({closes}) \
         BEGIN SELECT RAISE(ABORT, 'state_intervals is recorded data: only an open interval may be closed, once'); END"
    ));
    out.push(
        "CREATE TRIGGER mes_refuse_delete_state_intervals BEFORE DELETE ON state_intervals \
         BEGIN SELECT RAISE(ABORT, 'state_intervals is recorded data: DELETE refused'); END"
            .into(),
    );
    out
}

fn postgres_triggers() -> Vec<String> {
    let mut out = vec![
        "CREATE FUNCTION mes_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           RAISE EXCEPTION '% is recorded data: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation'; \
         END $$"
            .to_owned(),
        format!(
            "CREATE FUNCTION mes_close_interval_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF TG_OP = 'UPDATE' AND {INTERVAL_CLOSES} THEN RETURN NEW; END IF; \
               RAISE EXCEPTION 'state_intervals is recorded data: only an open interval may be closed, once' \
                 USING ERRCODE = 'integrity_constraint_violation'; \
             END $$"
        ),
    ];
    for table in RECORDED {
        out.push(format!(
            "CREATE TRIGGER mes_refuse_change BEFORE UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION mes_refuse_change()"
        ));
        out.push(format!(
            "CREATE TRIGGER mes_refuse_truncate BEFORE TRUNCATE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION mes_refuse_change()"
        ));
    }
    out.push(
        "CREATE TRIGGER mes_close_interval_only BEFORE UPDATE OR DELETE ON state_intervals \
         FOR EACH ROW EXECUTE FUNCTION mes_close_interval_only()"
            .into(),
    );
    out.push(
        "CREATE TRIGGER mes_refuse_truncate BEFORE TRUNCATE ON state_intervals \
         FOR EACH STATEMENT EXECUTE FUNCTION mes_refuse_change()"
            .into(),
    );
    out
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LedgerCheckpoints::Table)
                    .col(big_pk_auto(LedgerCheckpoints::Id))
                    .col(big_integer_uniq(LedgerCheckpoints::Size))
                    .col(string(LedgerCheckpoints::Root))
                    .col(text(LedgerCheckpoints::Note))
                    .col(timestamp_with_time_zone(LedgerCheckpoints::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LedgerRecordHashes::Table)
                    // No foreign key: a deleted result must be found missing, not block the check.
                    .col(big_integer(LedgerRecordHashes::ResultId))
                    .col(big_integer(LedgerRecordHashes::EntrySeq))
                    .col(string(LedgerRecordHashes::Station))
                    .col(text(LedgerRecordHashes::Record))
                    .col(string(LedgerRecordHashes::Hash))
                    // A supplement hashes its period's records again.
                    .primary_key(Index::create().col(LedgerRecordHashes::EntrySeq).col(LedgerRecordHashes::ResultId))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => postgres_triggers(),
            _ => sqlite_triggers(),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                for table in RECORDED.iter().chain(&["state_intervals"]) {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS mes_refuse_truncate ON {table}")).await?;
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS mes_refuse_change ON {table}")).await?;
                }
                db.execute_unprepared("DROP TRIGGER IF EXISTS mes_close_interval_only ON state_intervals").await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS mes_close_interval_only()").await?;
                db.execute_unprepared("DROP FUNCTION IF EXISTS mes_refuse_change()").await?;
            }
            _ => {
                for table in RECORDED.iter().chain(&["state_intervals"]) {
                    for op in ["update", "delete"] {
                        db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS mes_refuse_{op}_{table}")).await?;
                    }
                }
            }
        }
        manager.drop_table(Table::drop().table(LedgerRecordHashes::Table).take()).await?;
        manager.drop_table(Table::drop().table(LedgerCheckpoints::Table).take()).await
    }
}
