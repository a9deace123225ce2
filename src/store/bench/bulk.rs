//! A generated store at factory scale for the genealogy and yield benchmark (`mes bench trace`):
//! boards that each place components from `reels_per_board` reels, and phones that each take
//! one board and three material lots, over a year, loaded straight into the real schema.
//!
//! Benchmark code only: production writes go through [`Store::commit`](crate::store::Store::commit).
//! To load 10⁸ rows in minutes the loader writes ids itself, drops the secondary indexes and
//! rebuilds them afterwards from their own definitions (the schema ends exactly as migrated),
//! and on PostgreSQL skips the foreign-key triggers during `COPY` (`session_replication_role`),
//! since every id it writes is one it made.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::baseline::{BaselineError, BaselineIds, ts};

/// Whether `url` names a database a benchmark created (`…/mes_bench_…`).
fn is_bench_database(url: &str) -> bool {
    let path = url.split('?').next().unwrap_or_default();
    path.rsplit('/').next().is_some_and(|name| name.starts_with("mes_bench_"))
}

/// The shape of the generated plant.
#[derive(Debug, Clone, Copy)]
pub struct Synthetic {
    /// Boards made (each a unit); as many phones are made from them.
    pub boards: u64,
    /// Reels each board places from (one genealogy edge each).
    pub reels_per_board: u32,
    /// Boards a reel lasts for (a reel reaches this many boards and as many phones).
    pub boards_per_reel: u64,
    /// First board's time; production spreads evenly over `days`.
    pub start: DateTime<Utc>,
    /// Days of production.
    pub days: u32,
}

/// Material lots per phone besides its board (display, battery, housing), one lot per 1,000.
const LOT_KINDS: [&str; 3] = ["display_lot", "battery_lot", "housing_lot"];
const UNITS_PER_LOT: u64 = 1_000;
/// Every 33rd phone fails functional test once and passes its retest.
const FT_FAIL_EVERY: u64 = 33;

impl Synthetic {
    /// Units (boards and phones).
    pub fn units(&self) -> u64 {
        2 * self.boards
    }

    /// Genealogy edges.
    pub fn edges(&self) -> u64 {
        self.boards * u64::from(self.reels_per_board) + self.boards * (1 + LOT_KINDS.len() as u64)
    }

    /// Reels per feeder slot.
    fn reels_per_slot(&self) -> u64 {
        self.boards.div_ceil(self.boards_per_reel)
    }

    /// The code of the reel a board number `i` placed from at `slot`.
    pub fn reel_code(slot: u32, k: u64) -> String {
        format!("R{slot:02}-{k:06}")
    }

    /// Serial of phone `j` (0-based).
    pub fn phone_serial(j: u64) -> String {
        format!("PH-{j:010}")
    }

    fn board_at(&self, i: u64) -> DateTime<Utc> {
        let span_us = i64::from(self.days) * 86_400_000_000;
        self.start + Duration::microseconds((i as i128 * span_us as i128 / self.boards.max(1) as i128) as i64)
    }
}

/// Row counts the loader wrote, checked against the database after loading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Units.
    pub units: u64,
    /// Material lots.
    pub lots: u64,
    /// Station results.
    pub results: u64,
    /// Genealogy edges.
    pub edges: u64,
}

/// Where generated rows go: one method per table, ids given.
trait Sink {
    fn unit(&mut self, id: u64, serial: &str, product: i64, status: &str, at: &str) -> Result<(), BaselineError>;
    fn lot(&mut self, id: u64, code: &str, kind: &str, at: &str) -> Result<(), BaselineError>;
    #[allow(clippy::too_many_arguments)]
    fn result(
        &mut self,
        id: u64,
        line: i64,
        station: i64,
        seq: u64,
        unit: u64,
        pass: bool,
        at: &str,
    ) -> Result<(), BaselineError>;
    fn edge(&mut self, id: u64, parent: u64, child: Child, result: u64, position: u32) -> Result<(), BaselineError>;
}

/// The child of a generated edge.
#[derive(Clone, Copy)]
enum Child {
    Unit(u64),
    Lot(u64, &'static str),
}

/// Master ids the generator needs.
struct Master {
    smt: i64,
    phone: i64,
    pnp: i64,
    aoi: i64,
    load: i64,
    ft: i64,
    pack: i64,
    board_product: i64,
    phone_product: i64,
}

fn master(ids: &BaselineIds) -> Result<Master, BaselineError> {
    let line = |l: &str| ids.lines.get(l).copied().ok_or_else(|| BaselineError::Unknown(format!("line {l}")));
    let station = |l: &str, s: &str| {
        ids.stations
            .get(&(l.to_owned(), s.to_owned()))
            .copied()
            .ok_or_else(|| BaselineError::Unknown(format!("{l} {s}")))
    };
    let product = |p: &str| ids.products.get(p).copied().ok_or_else(|| BaselineError::Unknown(format!("product {p}")));
    use crate::bench::sample_plant::{PHONE_LINE, SMT_LINE};
    Ok(Master {
        smt: line(SMT_LINE)?,
        phone: line(PHONE_LINE)?,
        pnp: station(SMT_LINE, "PNP")?,
        aoi: station(SMT_LINE, "AOI")?,
        load: station(PHONE_LINE, "LOAD")?,
        ft: station(PHONE_LINE, "FT")?,
        pack: station(PHONE_LINE, "PACK")?,
        board_product: product("PCBA-PH")?,
        phone_product: product("PHONE-X1")?,
    })
}

/// Makes the rows, in id order per table: lots first, then boards (each with its phone) slice
/// by slice, so a loader can flush between slices.
struct Generator<'a> {
    spec: &'a Synthetic,
    m: Master,
    n: Loaded,
    ft_seq: u64,
    lot_base: u64,
    reels_per_slot: u64,
    phone_lots: u64,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a Synthetic, m: Master) -> Self {
        Self {
            spec,
            m,
            n: Loaded::default(),
            ft_seq: 0,
            lot_base: 0,
            reels_per_slot: spec.reels_per_slot(),
            phone_lots: spec.boards.div_ceil(UNITS_PER_LOT),
        }
    }

    /// Reels by slot, then the phone lots by kind.
    fn lots(&mut self, sink: &mut impl Sink) -> Result<(), BaselineError> {
        let first_at = ts(self.spec.start);
        for slot in 0..self.spec.reels_per_board {
            for k in 0..self.reels_per_slot {
                self.n.lots += 1;
                sink.lot(self.n.lots, &Synthetic::reel_code(slot, k), "reel", &first_at)?;
            }
        }
        self.lot_base = self.n.lots;
        for kind in LOT_KINDS {
            for k in 0..self.phone_lots {
                self.n.lots += 1;
                sink.lot(self.n.lots, &format!("{}-{k:07}", kind[..2].to_uppercase()), kind, &first_at)?;
            }
        }
        Ok(())
    }

    /// Boards `range` and their phones, with visits and edges.
    fn boards(&mut self, range: std::ops::Range<u64>, sink: &mut impl Sink) -> Result<(), BaselineError> {
        let (spec, m) = (self.spec, &self.m);
        let n = &mut self.n;
        for i in range {
            let (board, phone) = (i + 1, spec.boards + i + 1);
            let made = spec.board_at(i);
            let at = ts(made);
            sink.unit(board, &format!("PCB-{i:010}"), m.board_product, "consumed", &at)?;
            n.units += 1;
            // PNP places from one reel per slot, then AOI.
            let pnp = n.results + 1;
            sink.result(pnp, m.smt, m.pnp, i + 1, board, true, &at)?;
            sink.result(pnp + 1, m.smt, m.aoi, i + 1, board, true, &ts(made + Duration::seconds(20)))?;
            n.results += 2;
            for slot in 0..spec.reels_per_board {
                let reel = u64::from(slot) * self.reels_per_slot + i / spec.boards_per_reel + 1;
                n.edges += 1;
                sink.edge(n.edges, board, Child::Lot(reel, "reel"), pnp, slot)?;
            }
            // Two hours later the board goes into phone i: load (board and lots), FT, pack.
            let loaded = made + Duration::hours(2);
            sink.unit(phone, &Synthetic::phone_serial(i), m.phone_product, "packed", &ts(loaded))?;
            n.units += 1;
            let load = n.results + 1;
            sink.result(load, m.phone, m.load, i + 1, phone, true, &ts(loaded))?;
            n.results += 1;
            n.edges += 1;
            sink.edge(n.edges, phone, Child::Unit(board), load, 0)?;
            for (k, kind) in LOT_KINDS.iter().enumerate() {
                let lot = self.lot_base + k as u64 * self.phone_lots + i / UNITS_PER_LOT + 1;
                n.edges += 1;
                sink.edge(n.edges, phone, Child::Lot(lot, kind), load, k as u32 + 1)?;
            }
            let fails = i % FT_FAIL_EVERY == 5;
            for attempt in 0..=u64::from(fails) {
                self.ft_seq += 1;
                n.results += 1;
                let when = loaded + Duration::minutes(5 + 20 * attempt as i64);
                sink.result(n.results, m.phone, m.ft, self.ft_seq, phone, !(fails && attempt == 0), &ts(when))?;
            }
            n.results += 1;
            sink.result(n.results, m.phone, m.pack, i + 1, phone, true, &ts(loaded + Duration::minutes(40)))?;
        }
        Ok(())
    }
}

/// Loads the generated plant into the migrated SQLite file at `path` (master data registered).
pub fn load_sqlite(path: &Path, ids: &BaselineIds, spec: &Synthetic) -> Result<Loaded, BaselineError> {
    use rusqlite::params;

    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", crate::store::SQLITE_CACHE_PRAGMA)?;
    let tables = ["units", "material_lots", "station_results", "genealogy_edges"];
    let indexes: Vec<(String, String)> = {
        let mut stmt = conn.prepare(&format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({})",
            tables.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
        ))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
    };
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX {name}"))?;
    }
    let tx = conn.transaction()?;
    let loaded = {
        struct Lite<'a> {
            unit: rusqlite::Statement<'a>,
            lot: rusqlite::Statement<'a>,
            result: rusqlite::Statement<'a>,
            edge: rusqlite::Statement<'a>,
            recorded: String,
        }
        impl Sink for Lite<'_> {
            fn unit(
                &mut self,
                id: u64,
                serial: &str,
                product: i64,
                status: &str,
                at: &str,
            ) -> Result<(), BaselineError> {
                self.unit.execute(params![id as i64, serial, product, status, at])?;
                Ok(())
            }
            fn lot(&mut self, id: u64, code: &str, kind: &str, at: &str) -> Result<(), BaselineError> {
                self.lot.execute(params![id as i64, code, kind, at])?;
                Ok(())
            }
            fn result(
                &mut self,
                id: u64,
                line: i64,
                station: i64,
                seq: u64,
                unit: u64,
                pass: bool,
                at: &str,
            ) -> Result<(), BaselineError> {
                let verdict = if pass { "pass" } else { "fail" };
                self.result.execute(params![
                    id as i64,
                    line,
                    station,
                    seq as i64,
                    unit as i64,
                    verdict,
                    at,
                    self.recorded
                ])?;
                Ok(())
            }
            fn edge(
                &mut self,
                id: u64,
                parent: u64,
                child: Child,
                result: u64,
                position: u32,
            ) -> Result<(), BaselineError> {
                let (unit, lot, kind) = match child {
                    Child::Unit(u) => (Some(u as i64), None, "pcba"),
                    Child::Lot(l, kind) => (None, Some(l as i64), kind),
                };
                self.edge.execute(params![id as i64, parent as i64, unit, lot, kind, result as i64, position])?;
                Ok(())
            }
        }
        let mut sink = Lite {
            unit: tx.prepare("INSERT INTO units (id, serial, product_id, status, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5)")?,
            lot: tx.prepare("INSERT INTO material_lots (id, code, kind, first_seen_at) VALUES (?1, ?2, ?3, ?4)")?,
            result: tx.prepare(
                "INSERT INTO station_results (id, line_id, station_id, plc_epoch, seq, unit_id, result, ended_at, recorded_at) \
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8)",
            )?,
            edge: tx.prepare(
                "INSERT INTO genealogy_edges (id, parent_unit_id, child_unit_id, child_lot_id, child_kind, station_result_id, \
                 position, certainty) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'certain')",
            )?,
            recorded: ts(Utc::now()),
        };
        let mut generator = Generator::new(spec, master(ids)?);
        generator.lots(&mut sink)?;
        generator.boards(0..spec.boards, &mut sink)?;
        generator.n
    };
    tx.commit()?;
    for (_, sql) in &indexes {
        conn.execute_batch(sql)?;
    }
    conn.execute_batch("ANALYZE")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    Ok(loaded)
}

/// Loads the generated plant into the migrated PostgreSQL database at `url` with `COPY`.
///
/// Refused for any database but one a benchmark made (named `mes_bench_…`): the loader turns
/// triggers off while it copies (`session_replication_role`), which must never be reachable
/// against a production store, whose triggers refuse changes to recorded rows.
pub async fn load_postgres(url: &str, ids: &BaselineIds, spec: &Synthetic) -> Result<Loaded, BaselineError> {
    use std::fmt::Write as _;

    if !is_bench_database(url) {
        return Err(BaselineError::Unknown(format!(
            "benchmark database (the bulk loader only loads databases named mes_bench_…, not {})",
            crate::store::redact(url)
        )));
    }
    let mut conn = PgConnection::connect(url).await?;
    let tables = ["units", "material_lots", "station_results", "genealogy_edges"];
    let indexes: Vec<(String, String)> = sea_orm::sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = ANY($1) \
         AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .bind(&tables[..])
    .fetch_all(&mut conn)
    .await?;
    for (name, _) in &indexes {
        // Indexes behind constraints (primary keys, unique columns) stay.
        exec(&mut conn, format!("DROP INDEX IF EXISTS {name}")).await?;
    }
    exec(&mut conn, "SET session_replication_role = replica".into()).await?;

    /// Rows of each table as COPY text, flushed after every slice.
    struct Copy {
        buffers: [String; 4],
        recorded: String,
    }
    impl Sink for Copy {
        fn unit(&mut self, id: u64, serial: &str, product: i64, status: &str, at: &str) -> Result<(), BaselineError> {
            let _ = writeln!(self.buffers[0], "{id}\t{serial}\t{product}\t{status}\t{at}");
            Ok(())
        }
        fn lot(&mut self, id: u64, code: &str, kind: &str, at: &str) -> Result<(), BaselineError> {
            let _ = writeln!(self.buffers[1], "{id}\t{code}\t{kind}\t{at}");
            Ok(())
        }
        fn result(
            &mut self,
            id: u64,
            line: i64,
            station: i64,
            seq: u64,
            unit: u64,
            pass: bool,
            at: &str,
        ) -> Result<(), BaselineError> {
            let verdict = if pass { "pass" } else { "fail" };
            let _ = writeln!(
                self.buffers[2],
                "{id}\t{line}\t{station}\t1\t{seq}\t{unit}\t{verdict}\t{at}\t{}",
                self.recorded
            );
            Ok(())
        }
        fn edge(
            &mut self,
            id: u64,
            parent: u64,
            child: Child,
            result: u64,
            position: u32,
        ) -> Result<(), BaselineError> {
            let (unit, lot, kind) = match child {
                Child::Unit(u) => (u.to_string(), "\\N".to_owned(), "pcba"),
                Child::Lot(l, kind) => ("\\N".to_owned(), l.to_string(), kind),
            };
            let _ = writeln!(self.buffers[3], "{id}\t{parent}\t{unit}\t{lot}\t{kind}\t{result}\t{position}\tcertain");
            Ok(())
        }
    }
    let mut sink = Copy { buffers: Default::default(), recorded: ts(Utc::now()) };
    let mut generator = Generator::new(spec, master(ids)?);
    generator.lots(&mut sink)?;
    // Slices of boards keep memory bounded; each slice is COPYed table by table.
    const SLICE: u64 = 100_000;
    let mut next = 0;
    while next < spec.boards {
        let end = (next + SLICE).min(spec.boards);
        generator.boards(next..end, &mut sink)?;
        for (table, buffer) in COPY_COLUMNS.iter().zip(&mut sink.buffers) {
            if buffer.is_empty() {
                continue;
            }
            let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
            copy.send(std::mem::take(buffer).into_bytes()).await?;
            copy.finish().await?;
        }
        next = end;
    }
    exec(&mut conn, "SET session_replication_role = origin".into()).await?;
    for (_, def) in indexes {
        exec(&mut conn, def).await?;
    }
    for table in tables {
        exec(
            &mut conn,
            format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"),
        )
        .await?;
    }
    exec(&mut conn, "ANALYZE".into()).await?;
    conn.close().await?;
    Ok(generator.n)
}

/// Runs one statement the loader composed from catalog names.
async fn exec(conn: &mut PgConnection, sql: String) -> Result<(), BaselineError> {
    sea_orm::sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}

/// The COPY targets, in the order of `Copy::buffers`.
const COPY_COLUMNS: [&str; 4] = [
    "units (id, serial, product_id, status, first_seen_at)",
    "material_lots (id, code, kind, first_seen_at)",
    "station_results (id, line_id, station_id, plc_epoch, seq, unit_id, result, ended_at, recorded_at)",
    "genealogy_edges (id, parent_unit_id, child_unit_id, child_lot_id, child_kind, station_result_id, position, certainty)",
];

/// The floors the benchmark compares the production queries with: the bare recursive walk or
/// range count in SQL, with no joins to names, no visits, no holds and no assembly in Rust.
impl crate::store::Store {
    /// Edges below a unit, any depth (what a backward trace must at least visit).
    pub async fn bare_backward_edges(&self, serial: &str) -> Result<i64, crate::store::StoreError> {
        let sql = "WITH RECURSIVE tree(unit_id) AS ( \
                     SELECT id FROM units WHERE serial = $1 \
                     UNION \
                     SELECT e.child_unit_id FROM genealogy_edges e JOIN tree t ON e.parent_unit_id = t.unit_id \
                     WHERE e.child_unit_id IS NOT NULL) \
                   SELECT count(*) AS n FROM genealogy_edges e JOIN tree t ON e.parent_unit_id = t.unit_id";
        self.bare_count(sql, vec![serial.into()]).await
    }

    /// Units above a lot, any depth (what a forward trace must at least find).
    pub async fn bare_forward_units(&self, lot: &str) -> Result<i64, crate::store::StoreError> {
        let sql = "WITH RECURSIVE up(unit_id) AS ( \
                     SELECT e.parent_unit_id FROM genealogy_edges e JOIN material_lots l ON l.id = e.child_lot_id \
                     WHERE l.code = $1 \
                     UNION \
                     SELECT e.parent_unit_id FROM genealogy_edges e JOIN up ON e.child_unit_id = up.unit_id) \
                   SELECT count(*) AS n FROM up";
        self.bare_count(sql, vec![lot.into()]).await
    }

    /// Station results of a line in `[from, to)` (what a day's yield must at least read).
    pub async fn bare_line_results(
        &self,
        line: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<i64, crate::store::StoreError> {
        let line_id = self.line_id(line).await?;
        let sql = "SELECT count(*) AS n FROM station_results WHERE line_id = $1 AND ended_at >= $2 AND ended_at < $3";
        self.bare_count(sql, vec![line_id.into(), from.into(), to.into()]).await
    }

    /// Every station result that ended in `[from, to)`, read with the columns a record is made
    /// of and each decoded, pages of 5,000 in id order, nothing else: the floor of any check that
    /// recomputes figures from the raw records (`mes bench audit`). Returns the rows read.
    pub async fn bare_result_scan(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u64, crate::store::StoreError> {
        use crate::store::sql::get;
        use sea_orm::ConnectionTrait;
        let sql = format!(
            "{} WHERE r.id > $1 AND r.ended_at >= $2 AND r.ended_at < $3 ORDER BY r.id LIMIT 5000",
            crate::store::results::SELECT_RESULTS
        );
        let (mut after, mut read) = (i64::MIN, 0u64);
        loop {
            let statement =
                crate::store::sql::raw(self.sea_backend(), &sql, vec![after.into(), from.into(), to.into()]);
            let rows =
                self.db.query_all_raw(statement).await.map_err(crate::store::StoreError::db("benchmark scan"))?;
            let Some(last) = rows.last() else { break };
            after = get::<i64>(last, "id")?;
            for row in &rows {
                let _ = (
                    get::<i64>(row, "id")?,
                    get::<String>(row, "line")?,
                    get::<String>(row, "station")?,
                    get::<i64>(row, "plc_epoch")?,
                    get::<i64>(row, "seq")?,
                    get::<String>(row, "serial")?,
                    get::<Option<String>>(row, "product")?,
                    get::<Option<String>>(row, "work_order")?,
                    get::<String>(row, "result")?,
                    get::<Option<DateTime<Utc>>>(row, "started_at")?,
                    get::<DateTime<Utc>>(row, "ended_at")?,
                    get::<Option<i32>>(row, "cycle_time_ms")?,
                    get::<Option<String>>(row, "program")?,
                    get::<Option<String>>(row, "repair_action")?,
                    get::<DateTime<Utc>>(row, "recorded_at")?,
                );
                read += 1;
            }
        }
        Ok(read)
    }

    /// Bytes the PostgreSQL database takes on disk.
    pub async fn database_bytes(&self) -> Result<i64, crate::store::StoreError> {
        self.bare_count("SELECT pg_database_size(current_database()) AS n", Vec::new()).await
    }

    async fn bare_count(&self, sql: &str, values: Vec<sea_orm::Value>) -> Result<i64, crate::store::StoreError> {
        use sea_orm::ConnectionTrait;
        let row = self
            .db
            .query_one_raw(crate::store::sql::raw(self.sea_backend(), sql, values))
            .await
            .map_err(crate::store::StoreError::db("benchmark floor query"))?;
        row.map(|r| crate::store::sql::get::<i64>(&r, "n")).transpose().map(Option::unwrap_or_default)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bulk_loader_turns_triggers_off_only_in_benchmark_databases() {
        assert!(super::is_bench_database("postgres://u@h:5432/mes_bench_trace_42"));
        assert!(super::is_bench_database("postgres://u@h/mes_bench_raw_1?sslmode=disable"));
        for production in ["postgres://u@h:5432/mes", "postgres://u@h/plant?x=mes_bench_", "postgres://u@h/"] {
            assert!(!super::is_bench_database(production), "{production}");
        }
    }
}
