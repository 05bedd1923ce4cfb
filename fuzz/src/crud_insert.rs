//! `crud_insert`: the input decodes (`arbitrary`) into statements: inserts into `powersync_crud`
//! and `powersync_crud_` with arbitrary values, writes through the generated views, and
//! transaction control (BEGIN/COMMIT/ROLLBACK, savepoints).
//!
//! Invariants: an entry of a committed transaction stays in `ps_crud` unchanged; the entries one
//! transaction adds share a `tx_id` above every earlier transaction's (the upload queue groups
//! by it); the database passes `PRAGMA integrity_check`.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use rusqlite::types::Value;
use rusqlite::Connection;

use super::common;
use super::values::Val;

#[derive(Arbitrary, Debug)]
enum Step {
    Simple {
        op: Val,
        id: Val,
        ty: Val,
        data: Val,
        old: Val,
        meta: Val,
        options: Option<Val>,
    },
    Manual {
        data: Val,
        options: Option<Val>,
    },
    View {
        table: u8,
        kind: ViewOp,
        id: Val,
        a: Val,
        b: Val,
    },
    Begin,
    Commit,
    Rollback,
    Savepoint,
    RollbackTo,
    Release,
}

#[derive(Arbitrary, Debug)]
enum ViewOp {
    Insert,
    InsertOrReplace,
    Update,
    UpdateId,
    Delete,
}

/// View name and two of its writable columns, per table of `common::SCHEMA`.
const VIEWS: &[(&str, &str, &str)] = &[
    ("items", "v", "n"),
    ("lists", "title", "_metadata"),
    ("logs", "msg", "msg"),
    ("notes", "body", "body"),
    ("lists", "r", "_deleted"),
];

pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let db = common::open_with_schema();
    let mut queue = CrudModel::default();
    for _ in 0..64 {
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        step.run(&db);
        queue.check(&db);
    }
    if !db.is_autocommit() {
        db.execute_batch("COMMIT").unwrap();
        queue.check(&db);
    }
    common::check_integrity(&db);
}

impl Step {
    fn run(&self, db: &Connection) {
        let result = match self {
            Step::Simple {
                op,
                id,
                ty,
                data,
                old,
                meta,
                options,
            } => {
                let mut args = vec![op, id, ty, data, old, meta]
                    .into_iter()
                    .map(Val::to_sql)
                    .collect::<Vec<_>>();
                let sql = match options {
                    Some(o) => {
                        args.push(o.to_sql());
                        "INSERT INTO powersync_crud(op, id, type, data, old_values, metadata, options) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    }
                    None => {
                        "INSERT INTO powersync_crud(op, id, type, data, old_values, metadata) VALUES (?, ?, ?, ?, ?, ?)"
                    }
                };
                db.execute(sql, rusqlite::params_from_iter(args)).map(|_| ())
            }
            Step::Manual { data, options } => match options {
                Some(o) => db
                    .execute(
                        "INSERT INTO powersync_crud_(data, options) VALUES (?, ?)",
                        [data.to_sql(), o.to_sql()],
                    )
                    .map(|_| ()),
                None => db
                    .execute("INSERT INTO powersync_crud_(data) VALUES (?)", [data.to_sql()])
                    .map(|_| ()),
            },
            Step::View { table, kind, id, a, b } => {
                let (view, ca, cb) = VIEWS[*table as usize % VIEWS.len()];
                let (id, a, b) = (id.to_sql(), a.to_sql(), b.to_sql());
                let sql = match kind {
                    ViewOp::Insert => format!("INSERT INTO {view}(id, {ca}, {cb}) VALUES (?1, ?2, ?3)"),
                    ViewOp::InsertOrReplace => {
                        format!("INSERT OR REPLACE INTO {view}(id, {ca}, {cb}) VALUES (?1, ?2, ?3)")
                    }
                    ViewOp::Update => format!("UPDATE {view} SET {ca} = ?2, {cb} = ?3 WHERE id = ?1 OR ?1 IS NULL"),
                    ViewOp::UpdateId => format!("UPDATE {view} SET id = ?2 WHERE id = ?1 AND ?3 IS NOT ?3"),
                    ViewOp::Delete => format!("DELETE FROM {view} WHERE id = ?1 OR {ca} IS ?2 OR ?3 IS NULL"),
                };
                db.execute(&sql, [id, a, b]).map(|_| ())
            }
            Step::Begin => db.execute_batch("BEGIN"),
            Step::Commit => db.execute_batch("COMMIT"),
            Step::Rollback => db.execute_batch("ROLLBACK"),
            Step::Savepoint => db.execute_batch("SAVEPOINT s"),
            Step::RollbackTo => db.execute_batch("ROLLBACK TO s"),
            Step::Release => db.execute_batch("RELEASE s"),
        };
        common::tolerate(result, &format!("{self:?}"));
    }
}

/// The committed part of the upload queue, as last seen outside a transaction.
#[derive(Default)]
pub struct CrudModel {
    committed: BTreeMap<i64, (Value, i64)>,
}

impl CrudModel {
    pub fn entries(db: &Connection) -> BTreeMap<i64, (Value, i64)> {
        let mut stmt = db.prepare("SELECT id, data, tx_id FROM ps_crud").unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// Every committed entry is still there, unchanged; outside a transaction, what was added
    /// since the last look is one transaction's entries.
    pub fn check(&mut self, db: &Connection) {
        let now = Self::entries(db);
        for (id, entry) in &self.committed {
            assert_eq!(now.get(id), Some(entry), "committed ps_crud entry {id} lost or changed");
        }
        if db.is_autocommit() {
            self.absorb(now);
        }
    }

    /// Takes `now` (a committed state) as the new baseline, checking the new entries' tx ids.
    /// Several autocommit statements may have run since the last look, so new entries may span
    /// several transactions, but their ids never go below an earlier transaction's.
    fn absorb(&mut self, now: BTreeMap<i64, (Value, i64)>) {
        let old_max_tx = self.committed.values().map(|(_, tx)| *tx).max();
        let old_max_id = self.committed.keys().next_back().copied();
        let mut last_tx = old_max_tx;
        for (id, (_, tx)) in now.range(old_max_id.map_or(i64::MIN, |i| i + 1)..) {
            if let Some(prev) = old_max_tx {
                assert!(
                    *tx > prev,
                    "ps_crud entry {id} has tx_id {tx}, not above the committed {prev}"
                );
            }
            if let Some(prev) = last_tx {
                assert!(
                    *tx >= prev,
                    "ps_crud entry {id} has tx_id {tx} below an earlier entry's {prev}"
                );
            }
            last_tx = Some(*tx);
        }
        self.committed = now;
    }

    /// The harness uploaded (completed) these entries itself.
    pub fn forget(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            self.committed.remove(&id);
        }
    }
}
