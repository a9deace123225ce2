//! Lots per material: a lot code is printed by its supplier, so two suppliers (or two parts of
//! one supplier) can print the same code. The phone and the tablet line both consume a
//! `BATTERY-LOT-L00001` that are different batteries; keyed on the code alone they were one
//! lot, and a hold on one held the other line's units too. A lot is now unique on
//! (code, part number, supplier); both are empty where a profile names no material.
//!
//! SQLite cannot drop a column's UNIQUE constraint, so its table is rebuilt the way SQLite
//! documents for such changes: a new table filled with the same ids replaces the old one, with
//! foreign keys off on the connection doing it and checked before it commits. PostgreSQL alters
//! the table in the migration's transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MaterialLots {
    Table,
    Id,
    Code,
    Kind,
    PartNumber,
    Supplier,
    Quantity,
    FirstSeenAt,
}

/// The unique key's index name, the same on both backends.
const KEY: &str = "material_lots_code_material";

fn key_index() -> IndexCreateStatement {
    Index::create()
        .name(KEY)
        .table(MaterialLots::Table)
        .col(MaterialLots::Code)
        .col(MaterialLots::PartNumber)
        .col(MaterialLots::Supplier)
        .unique()
        .if_not_exists()
        .take()
}

/// The table as this migration leaves it (SQLite rebuild).
fn table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new("material_lots_new"))
        .col(big_pk_auto(MaterialLots::Id))
        .col(text(MaterialLots::Code))
        .col(string(MaterialLots::Kind))
        .col(string(MaterialLots::PartNumber).default(""))
        .col(string(MaterialLots::Supplier).default(""))
        .col(integer_null(MaterialLots::Quantity))
        .col(timestamp_with_time_zone(MaterialLots::FirstSeenAt))
        .take()
}

/// Rebuilds SQLite's table as `create` makes it (named `material_lots_new`), copying every row
/// with its id: `columns` of the new table are filled from the `select` list read from the old
/// one. SQLite's own procedure for a schema change ALTER TABLE cannot make: on one connection
/// with foreign keys off (renaming a table rewrites the references of other tables to it, and
/// dropping it would delete through them), in one transaction, checking every foreign key
/// before it commits. A connection that fails part way is closed, never returned to the pool
/// with its foreign keys off.
async fn rebuild_sqlite(
    manager: &SchemaManager<'_>,
    create: TableCreateStatement,
    columns: &str,
    select: &str,
) -> Result<(), DbErr> {
    use sea_orm::sqlx;
    let sea_orm::DatabaseExecutor::Connection(db) = manager.get_connection() else {
        return Err(DbErr::Migration(
            "lots per material: SQLite's table rebuild needs the pool, not a transaction".into(),
        ));
    };
    let backend = manager.get_database_backend();
    let statements = [
        "PRAGMA foreign_keys = OFF".to_owned(),
        "BEGIN IMMEDIATE".to_owned(),
        backend.build(&create).to_string(),
        format!("INSERT INTO material_lots_new ({columns}) SELECT {select} FROM material_lots"),
        "DROP TABLE material_lots".to_owned(),
        "ALTER TABLE material_lots_new RENAME TO material_lots".to_owned(),
    ];
    let failed = |e: sqlx::Error| DbErr::Migration(format!("lots per material: rebuilding material_lots: {e}"));
    let mut conn = db.get_sqlite_connection_pool().acquire().await.map_err(failed)?;
    let result: Result<(), DbErr> = async {
        for sql in statements {
            // Constants and SeaQuery's own DDL: nothing from outside.
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await.map_err(failed)?;
        }
        let broken = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *conn).await.map_err(failed)?;
        if !broken.is_empty() {
            return Err(DbErr::Migration(format!(
                "lots per material: {} rows would lose the lot they reference",
                broken.len()
            )));
        }
        sqlx::query("COMMIT").execute(&mut *conn).await.map_err(failed)?;
        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await.map_err(failed)?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        let _ = conn.close().await;
    }
    result
}

/// Whether material_lots has `column` (SQLite): a rebuild cut short between its commit and the
/// migration's record is not run twice.
async fn sqlite_has_column(manager: &SchemaManager<'_>, column: &str) -> Result<bool, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            manager.get_database_backend(),
            "SELECT COUNT(*) AS n FROM pragma_table_info('material_lots') WHERE name = ?",
            [column.into()],
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0) > 0)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared("UPDATE material_lots SET part_number = '' WHERE part_number IS NULL").await?;
                db.execute_unprepared(
                    "ALTER TABLE material_lots DROP CONSTRAINT material_lots_code_key, \
                     ALTER COLUMN part_number SET NOT NULL, ALTER COLUMN part_number SET DEFAULT '', \
                     ADD COLUMN supplier varchar NOT NULL DEFAULT ''",
                )
                .await?;
            }
            _ if sqlite_has_column(manager, "supplier").await? => {}
            _ => {
                rebuild_sqlite(
                    manager,
                    table(),
                    "id, code, kind, part_number, supplier, quantity, first_seen_at",
                    "id, code, kind, COALESCE(part_number, ''), '', quantity, first_seen_at",
                )
                .await?;
            }
        }
        manager.create_index(key_index()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Lots that only the material told apart cannot share a code again: refuse rather than
        // merge two lots' genealogy into one.
        let db = manager.get_connection();
        let shared = db
            .query_one_raw(sea_orm::Statement::from_string(
                manager.get_database_backend(),
                "SELECT COUNT(*) AS n FROM (SELECT code FROM material_lots GROUP BY code HAVING COUNT(*) > 1) s",
            ))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if shared > 0 {
            return Err(DbErr::Migration(format!(
                "{shared} lot codes belong to more than one material; undoing lots per material would merge them"
            )));
        }
        manager.drop_index(Index::drop().name(KEY).table(MaterialLots::Table).to_owned()).await?;
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE material_lots DROP COLUMN supplier, ALTER COLUMN part_number DROP DEFAULT, \
                     ALTER COLUMN part_number DROP NOT NULL, ADD CONSTRAINT material_lots_code_key UNIQUE (code)",
                )
                .await?;
                db.execute_unprepared("UPDATE material_lots SET part_number = NULL WHERE part_number = ''").await?;
            }
            _ => {
                let old = Table::create()
                    .table(Alias::new("material_lots_new"))
                    .col(big_pk_auto(MaterialLots::Id))
                    .col(text_uniq(MaterialLots::Code))
                    .col(string(MaterialLots::Kind))
                    .col(string_null(MaterialLots::PartNumber))
                    .col(integer_null(MaterialLots::Quantity))
                    .col(timestamp_with_time_zone(MaterialLots::FirstSeenAt))
                    .take();
                rebuild_sqlite(
                    manager,
                    old,
                    "id, code, kind, part_number, quantity, first_seen_at",
                    "id, code, kind, NULLIF(part_number, ''), quantity, first_seen_at",
                )
                .await?;
            }
        }
        Ok(())
    }
}
