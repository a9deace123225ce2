//! Small SQL plumbing shared by the store's files: portable raw statements, bind-limit chunking,
//! typed column reads.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, TryGetable, Value};

use super::{Backend, StoreError};

/// Most bind parameters we put in one statement (both backends allow far more: SQLite 32,766,
/// PostgreSQL 65,535). Width costs: sqlx-sqlite looks each parameter's name up on every bind
/// (quadratic in the width); PostgreSQL (not profiled) presumably parses and plans the list. At
/// 30,000 the PostgreSQL writer ran at a third of its rate at 1,000, and SQLite no faster
/// (BENCHMARKS.md, statement width).
pub(crate) const MAX_BINDS: usize = 1_000;

/// Rows per multi-row INSERT for a table of `columns` columns.
pub(crate) fn rows_per_insert(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).max(1)
}

/// Builds a raw statement written with PostgreSQL's `$1` placeholders, rewritten to SQLite's
/// numbered `?1` form when needed, so each query is written once.
pub(crate) fn raw(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let text = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, text, values)
}

/// `IN ($1, $2, …)` placeholder list starting at `$first`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Most values [`among`] binds as one list. Measured on PostgreSQL (forward trace of 10⁵
/// units, BENCHMARKS.md): one list of 100,000 ids tipped the planner into hashing all 25
/// million station results (8 s); lists of 250, 1,000, 2,000 and 8,000 took 1.7, 1.55, 3.7 and
/// 2.5 s (not monotonic: the fetch of the larger answers stalls; not investigated further).
pub(crate) const LIST_CHUNK: usize = 1_000;

/// The condition "`column` is one of the listed values", with the list bound as one parameter
/// (`$n`): `= ANY($n::bigint[])` / `::text[]` on PostgreSQL, `IN (SELECT value FROM
/// json_each($n))` on SQLite; and the values of `items` as such lists, [`LIST_CHUNK`] at most
/// each. The statement has one text whatever the count, so it is parsed and planned once (a
/// placeholder per value made a new text per length and cost a bind lookup per value).
pub(crate) fn among<T: ListItem>(backend: DbBackend, column: &str, n: usize, items: &[T]) -> (String, Vec<Value>) {
    let lists = items.chunks(LIST_CHUNK).map(|chunk| list_value(backend, chunk)).collect();
    let condition = match backend {
        DbBackend::Postgres => format!("{column} = ANY(${n}::{}[])", T::PG_TYPE),
        _ => format!("{column} IN (SELECT value FROM json_each(${n}))"),
    };
    (condition, lists)
}

/// Runs `sql`, whose `$1` is an [`among`] list, once per list of `lists`, handing each row to
/// `each` as it comes: every read of an id list in one place, one chunk's rows in memory at a time.
pub(crate) async fn each_row_among(
    db: &impl ConnectionTrait,
    sql: &str,
    lists: Vec<Value>,
    what: &'static str,
    mut each: impl FnMut(&QueryResult) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    for list in lists {
        let rows = db.query_all_raw(raw(backend, sql, vec![list])).await.map_err(StoreError::db(what))?;
        rows.iter().try_for_each(&mut each)?;
    }
    Ok(())
}

/// One list parameter: a PostgreSQL array literal, or a JSON array for SQLite.
fn list_value<T: ListItem>(backend: DbBackend, items: &[T]) -> Value {
    match backend {
        DbBackend::Postgres => {
            let mut list = String::with_capacity(items.len() * 12 + 2);
            list.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                item.push_array_element(&mut list);
            }
            list.push('}');
            list.into()
        }
        _ => serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned()).into(),
    }
}

/// A value [`among`] can list: an id or a code.
pub(crate) trait ListItem: serde::Serialize {
    /// Its PostgreSQL element type.
    const PG_TYPE: &'static str;
    /// Writes it as an element of a PostgreSQL array literal.
    fn push_array_element(&self, out: &mut String);
}

impl ListItem for i64 {
    const PG_TYPE: &'static str = "bigint";
    fn push_array_element(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "{self}");
    }
}

impl ListItem for &str {
    const PG_TYPE: &'static str = "text";
    fn push_array_element(&self, out: &mut String) {
        // Quoted, with `"` and `\` escaped: any text is one element.
        out.push('"');
        for c in self.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
}

/// Reads a column by name, naming the column in the error.
pub(crate) fn get<T: TryGetable>(row: &QueryResult, column: &'static str) -> Result<T, StoreError> {
    row.try_get::<T>("", column).map_err(|source| StoreError::Column { column, source })
}

/// `ON CONFLICT (columns) DO NOTHING`: the conflict clause of every idempotent insert.
pub(crate) fn do_nothing_on<C: sea_orm::sea_query::IntoIden + Copy>(columns: &[C]) -> Option<OnConflict> {
    Some(OnConflict::columns(columns.iter().copied()).do_nothing().to_owned())
}

/// Names of user tables, sorted.
pub(crate) async fn table_names(db: &impl ConnectionTrait, backend: Backend) -> Result<Vec<String>, StoreError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map_err(StoreError::db("listing tables"))?;
    rows.iter().map(|r| get::<String>(r, "name")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_query_text_serves_both_backends() {
        let pg = raw(DbBackend::Postgres, "SELECT $1, $2", vec![]);
        let lite = raw(DbBackend::Sqlite, "SELECT $1, $2", vec![]);
        assert_eq!(pg.sql, "SELECT $1, $2");
        assert_eq!(lite.sql, "SELECT ?1, ?2");
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(rows_per_insert(13), 76);
    }

    #[test]
    fn a_list_of_values_is_bound_in_chunks_under_one_statement_text() {
        let ids: Vec<i64> = (1..=(2 * LIST_CHUNK as i64 + 1)).collect();
        let (condition, lists) = among(DbBackend::Postgres, "u.id", 3, &ids);
        assert_eq!(condition, "u.id = ANY($3::bigint[])");
        assert_eq!(lists.len(), 3);
        assert_eq!(lists[2], Value::from(format!("{{{}}}", 2 * LIST_CHUNK + 1)));
        let (condition, lists) = among(DbBackend::Sqlite, "u.serial", 1, &["a", "b"]);
        assert_eq!(condition, "u.serial IN (SELECT value FROM json_each($1))");
        assert_eq!(lists, vec![Value::from(r#"["a","b"]"#.to_owned())]);
        assert!(among::<i64>(DbBackend::Postgres, "u.id", 1, &[]).1.is_empty(), "nothing to list: no statement");
    }

    #[test]
    fn any_text_is_one_element_of_a_postgresql_array_literal() {
        let (_, lists) = among(DbBackend::Postgres, "u.serial", 1, &[r#"a "b", {c} \ NULL"#, "d"]);
        assert_eq!(lists, vec![Value::from(r#"{"a \"b\", {c} \\ NULL","d"}"#.to_owned())]);
    }
}
