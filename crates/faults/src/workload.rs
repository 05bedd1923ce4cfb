//! The shared tables, and the random transactions the workers run against them.

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::history::{Read1, Write1};

/// Service rules: every table in one global bucket, so every client syncs every row.
pub const RULES: &str = r#"{"buckets": [{"name": "global", "tables": ["items", "accounts"]}]}"#;

/// `include_metadata`: a delete is `UPDATE … SET _deleted = TRUE, _metadata = <token>`, which
/// deletes the row and queues a DELETE carrying the token (docs/schema-sql.md, "Generated objects of a JSON table"), so every delete is as
/// unique in the history and in the uploads as a written value.
pub const SCHEMA: &str = r#"{"tables": [
  {"name": "items", "include_metadata": true, "columns": [{"name": "v", "type": "text"}, {"name": "writer", "type": "text"}]},
  {"name": "accounts", "include_metadata": true, "columns": [{"name": "v", "type": "text"}, {"name": "writer", "type": "text"}]}]}"#;

pub const TABLES: [&str; 2] = ["items", "accounts"];

/// Few keys per table, so that clients write the same rows concurrently.
pub const KEYS: usize = 6;

/// The user every worker signs in as (the global bucket does not depend on it).
pub const USER: &str = "faults";

pub fn key(i: usize) -> String {
    format!("k{i}")
}

/// Chance that a planned write deletes its row (when the row exists; otherwise it inserts).
const DELETE_CHANCE: f64 = 0.2;

/// A planned operation: rows to read, then rows to write (`delete` set: delete the row if it
/// exists).
#[derive(Debug, Clone)]
pub struct Plan {
    pub reads: Vec<(String, String)>,
    pub writes: Vec<Write1>,
}

/// Unique value generator: `c<client>.<incarnation>.<n>`, unique across restarts because the
/// incarnation grows.
pub struct Values {
    prefix: String,
    n: u64,
}

impl Values {
    pub fn new(client: usize, inc: u32) -> Values {
        Values {
            prefix: format!("c{client}.{inc}."),
            n: 0,
        }
    }

    fn next(&mut self) -> String {
        self.n += 1;
        format!("{}{}", self.prefix, self.n)
    }
}

/// Owner of a value: `(client, incarnation)`, from its text.
pub fn value_owner(v: &str) -> Option<(usize, u32)> {
    let rest = v.strip_prefix('c')?;
    let mut parts = rest.split('.');
    let c = parts.next()?.parse().ok()?;
    let i = parts.next()?.parse().ok()?;
    Some((c, i))
}

/// A random transaction (`writes` empty: a read-only query).
pub fn plan(rng: &mut impl Rng, values: &mut Values) -> Plan {
    let mut rows: Vec<(String, String)> = Vec::new();
    let n_rows = rng.random_range(1..=3);
    while rows.len() < n_rows {
        let t = TABLES.choose(rng).copied().unwrap_or("items").to_string();
        let r = (t, key(rng.random_range(0..KEYS)));
        if !rows.contains(&r) {
            rows.push(r);
        }
    }
    let read_only = rng.random_bool(0.3);
    let n_writes = if read_only {
        0
    } else {
        rng.random_range(1..=rows.len().min(2))
    };
    let writes = rows[..n_writes]
        .iter()
        .map(|(t, id)| Write1 {
            table: t.clone(),
            id: id.clone(),
            v: values.next(),
            delete: rng.random_bool(DELETE_CHANCE),
        })
        .collect();
    Plan { reads: rows, writes }
}

/// Runs a write plan in one transaction: reads every row of the plan, then writes: a planned
/// delete of an existing row deletes it (its value is the delete's token), any other write
/// updates an existing row or inserts a new one. Returns what it read and what it wrote.
pub fn run_in_transaction(
    tx: &rusqlite::Transaction<'_>,
    plan: &Plan,
    writer: &str,
) -> rusqlite::Result<(Vec<Read1>, Vec<Write1>)> {
    let reads = read_rows(tx, &plan.reads)?;
    let mut done = Vec::with_capacity(plan.writes.len());
    for w in &plan.writes {
        // Every written row is also read (and `v` is never NULL), so the read tells.
        let exists = reads
            .iter()
            .any(|r| r.table == w.table && r.id == w.id && r.v.is_some());
        let delete = w.delete && exists;
        if delete {
            tx.execute(
                &format!("UPDATE {} SET _deleted = TRUE, _metadata = ? WHERE id = ?", w.table),
                [&w.v, &w.id],
            )?;
        } else if exists {
            tx.execute(
                &format!("UPDATE {} SET v = ?, writer = ? WHERE id = ?", w.table),
                [&w.v, writer, &w.id],
            )?;
        } else {
            tx.execute(
                &format!("INSERT INTO {}(id, v, writer) VALUES (?, ?, ?)", w.table),
                [&w.id, &w.v, writer],
            )?;
        }
        done.push(Write1 { delete, ..w.clone() });
    }
    Ok((reads, done))
}

pub fn read_rows(conn: &rusqlite::Connection, rows: &[(String, String)]) -> rusqlite::Result<Vec<Read1>> {
    let mut out = Vec::with_capacity(rows.len());
    for (t, id) in rows {
        let v: Option<Option<String>> = {
            let mut stmt = conn.prepare_cached(&format!("SELECT v FROM {t} WHERE id = ?"))?;
            let mut q = stmt.query([id])?;
            match q.next()? {
                Some(r) => Some(r.get(0)?),
                None => None,
            }
        };
        out.push(Read1 {
            table: t.clone(),
            id: id.clone(),
            v: v.flatten(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn values_are_unique_and_carry_their_owner() {
        let mut v = Values::new(3, 7);
        let a = v.next();
        let b = v.next();
        assert_ne!(a, b);
        assert_eq!(value_owner(&a), Some((3, 7)));
        assert_eq!(value_owner("x"), None);
    }

    #[tokio::test]
    async fn a_delete_removes_the_row_and_queues_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let db = powersync_client::PowerSyncDatabase::open(dir.path().join("w.db"), SCHEMA).unwrap();
        let w = |id: &str, v: &str, delete: bool| Write1 {
            table: "items".into(),
            id: id.into(),
            v: v.into(),
            delete,
        };
        let plan = |writes: Vec<Write1>| Plan {
            reads: writes.iter().map(|w| (w.table.clone(), w.id.clone())).collect(),
            writes,
        };
        // A planned delete of a missing row inserts it instead.
        let p = plan(vec![w("k1", "c0.0.1", true), w("k2", "c0.0.2", false)]);
        let (_, done) = db
            .write_transaction(move |tx| run_in_transaction(tx, &p, "c0"))
            .await
            .unwrap();
        assert_eq!(done, vec![w("k1", "c0.0.1", false), w("k2", "c0.0.2", false)]);
        let p = plan(vec![w("k1", "c0.0.3", true)]);
        let (reads, done) = db
            .write_transaction(move |tx| run_in_transaction(tx, &p, "c0"))
            .await
            .unwrap();
        assert_eq!(reads[0].v.as_deref(), Some("c0.0.1"));
        assert_eq!(done, vec![w("k1", "c0.0.3", true)]);
        let left = db.query("SELECT id FROM items", vec![]).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].get_str("id"), Some("k2"));
        let txs = db.crud_transactions().await.unwrap();
        let last = &txs.last().unwrap().entries[0];
        assert_eq!(last.op, powersync_client::UpdateType::Delete);
        assert_eq!((last.id.as_str(), last.metadata.as_deref()), ("k1", Some("c0.0.3")));
    }

    #[test]
    fn plans_write_rows_they_read() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut v = Values::new(0, 0);
        for _ in 0..200 {
            let p = plan(&mut rng, &mut v);
            assert!(!p.reads.is_empty() && p.writes.len() <= 2);
            for w in &p.writes {
                assert!(p.reads.iter().any(|(t, id)| *t == w.table && *id == w.id));
            }
        }
    }
}
