//! `powersync_diagnostics()`: one JSON document that explains the state of sync, and the
//! eponymous tables `powersync_diagnostics_buckets` and `powersync_diagnostics_uploads` that give
//! the same per bucket and per queued transaction to `SELECT ... FROM` (docs/diagnostics.md).
//!
//! Ours, not the reference's: purely additive. Everything is read with plain `SELECT`s whose
//! cost is proportional to buckets, tables and queued uploads; `ps_oplog` is never scanned (op
//! counts come from the buckets' counters). Nothing is written, so it is safe while a sync runs
//! on another connection, and on this one (the iteration is only read, never waited for).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{c_int, CStr};
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::vtab::{
    sqlite3_vtab, sqlite3_vtab_cursor, Context, CreateVTab, Filters, IndexInfo, VTab, VTabConnection, VTabCursor,
    VTabKind,
};
use rusqlite::{ffi, Connection};
use serde_json::{json, Map, Value as Json};

use crate::error::PsResult;
use crate::function::{Call, Output};
use crate::schema::existing;
use crate::sql;
use crate::state::DatabaseState;
use crate::sync::checkpoint_requests::{self, MAX_OP_ID};

/// The highest internal schema version this build writes.
const LATEST_VERSION: i64 = crate::migrations::LATEST_VERSION;

pub fn diagnostics_fn(call: &Call) -> PsResult<Output> {
    let db = call.connection();
    let document = collect(&db, call.state)?;
    Ok(Output::Json(document.to_string()))
}

fn count(db: &Connection, sql_text: &str) -> PsResult<i64> {
    Ok(sql::query_optional(db, sql_text, [], |r| r.get::<_, i64>(0))?.unwrap_or(0))
}

/// Priorities of the buckets of the checkpoint a sync iteration on this connection tracks; empty
/// when none runs here (or its state is busy, which must not block a diagnostic read).
fn bucket_priorities(state: &DatabaseState) -> HashMap<String, i32> {
    match state.sync.try_lock() {
        Ok(client) => client
            .iteration
            .as_ref()
            .map(|i| i.bucket_priorities().into_iter().collect())
            .unwrap_or_default(),
        Err(_) => HashMap::new(),
    }
}

/// Tables with triggers that record local writes in `ps_crud`, other than our views and direct
/// tables.
const RAW_BY_TRIGGERS: &str = "\
SELECT DISTINCT tbl_name FROM sqlite_master t
  WHERE type = 'trigger' AND sql LIKE '%INSERT INTO powersync\\_crud%' ESCAPE '\\'
    AND NOT EXISTS (SELECT 1 FROM sqlite_master o WHERE o.name = t.tbl_name
      AND ((o.type = 'view' AND o.sql GLOB '*-- powersync-auto-generated') OR (o.type = 'table' AND o.sql LIKE '%/* ps-managed%')))
ORDER BY tbl_name";

/// `(name, ops, last_op, last_applied_op, add_checksum, op_checksum, pending_delete,
/// downloaded_size)` of every bucket, in name order.
const BUCKETS: &str = "SELECT name, count_at_last + count_since_last, last_op, last_applied_op, add_checksum, op_checksum, pending_delete, downloaded_size FROM ps_buckets ORDER BY name";

fn bucket_rows(db: &Connection, state: &DatabaseState) -> PsResult<Vec<Vec<Value>>> {
    let priorities = bucket_priorities(state);
    sql::query_all(db, BUCKETS, [], |row| {
        let name: String = row.get(0)?;
        // A map: a checkpoint can have thousands of buckets.
        let priority = priorities
            .get(&name)
            .map_or(Value::Null, |p| Value::Integer(i64::from(*p)));
        let add: i64 = row.get(4)?;
        let op: i64 = row.get(5)?;
        // Checksums are 32-bit sums that wrap; the stored columns may exceed that range.
        let total = (add.wrapping_add(op)) as u32;
        Ok(vec![
            Value::Text(name),
            Value::Integer(row.get(1)?),
            Value::Integer(row.get(2)?),
            Value::Integer(row.get(3)?),
            Value::Text(format!("0x{total:08x}")),
            Value::Integer(row.get(6)?),
            Value::Integer(row.get(7)?),
            priority,
        ])
    })
}

const BUCKET_COLUMNS: [&str; 8] = [
    "name",
    "ops",
    "last_op",
    "last_applied_op",
    "checksum",
    "pending_delete",
    "downloaded_size",
    "priority",
];

/// `(tx_id, ops, first_op_id, last_op_id, types)` per queued transaction, oldest first.
const UPLOADS: &str = "SELECT tx_id, count(*), min(id), max(id), group_concat(DISTINCT json_extract(data, '$.type')) FROM ps_crud GROUP BY tx_id ORDER BY min(id)";

fn upload_rows(db: &Connection) -> PsResult<Vec<Vec<Value>>> {
    sql::query_all(db, UPLOADS, [], |row| {
        (0..5)
            .map(|i| row.get::<_, Value>(i))
            .collect::<rusqlite::Result<Vec<Value>>>()
    })
}

const UPLOAD_COLUMNS: [&str; 5] = ["tx_id", "ops", "first_id", "last_id", "tables"];

fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Text(t) => json!(t),
        Value::Blob(b) => json!(b.len()),
    }
}

fn rows_to_json(columns: &[&str], rows: &[Vec<Value>]) -> Json {
    Json::Array(
        rows.iter()
            .map(|row| {
                let object: Map<String, Json> = columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| ((*c).to_owned(), to_json(v)))
                    .collect();
                Json::Object(object)
            })
            .collect(),
    )
}

/// The whole document (see the module comment).
pub fn collect(db: &Connection, state: &DatabaseState) -> PsResult<Json> {
    let initialised = count(
        db,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ps_migration'",
    )? > 0;
    let internal_version = if initialised {
        count(db, "SELECT ifnull(max(id), 0) FROM ps_migration")?
    } else {
        0
    };
    if internal_version == 0 {
        return Ok(json!({
            "internal_version": 0,
            "internal_version_supported": true,
            "held_back": ["this database has no PowerSync tables yet (powersync_init has not run)"],
        }));
    }
    // Other versions have other tables: say so rather than fail on a missing one.
    if internal_version != LATEST_VERSION {
        return Ok(json!({
            "internal_version": internal_version,
            "internal_version_supported": internal_version < LATEST_VERSION,
            "held_back": [format!(
                "the internal tables are at version {internal_version}; this build reads version {LATEST_VERSION} (powersync_init() migrates them)"
            )],
        }));
    }
    let client_id = sql::query_optional(db, "SELECT value FROM ps_kv WHERE key = 'client_id'", [], |r| {
        r.get::<_, Option<String>>(0)
    })?
    .flatten();

    let mut tables: Vec<Json> = existing::tables(db)?
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "kind": if t.is_direct() { "direct" } else { "json" },
                "local_only": t.local_only,
                "storage": t.storage,
            })
        })
        .collect();
    // Raw tables: those of the schema set on this connection, and any other table whose
    // triggers record local writes (a raw table without such triggers cannot be told apart).
    let mut raw: Vec<(String, Option<String>, bool)> = state
        .schema()
        .map(|schema| {
            schema
                .raw_tables
                .iter()
                .map(|r| (r.name.clone(), r.table_name.clone(), r.options.local_only))
                .collect()
        })
        .unwrap_or_default();
    for table in sql::query_all(db, RAW_BY_TRIGGERS, [], |r| r.get::<_, String>(0))? {
        if !raw.iter().any(|(_, local, _)| local.as_deref() == Some(table.as_str())) {
            raw.push((table.clone(), Some(table), false));
        }
    }
    for (name, storage, local_only) in raw {
        tables.push(json!({"name": name, "kind": "raw", "local_only": local_only, "storage": storage}));
    }
    tables.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));

    let buckets = bucket_rows(db, state)?;
    // Both tables have their op count in the second column.
    let total_ops = |rows: &[Vec<Value>]| -> i64 {
        rows.iter()
            .map(|r| match r[1] {
                Value::Integer(n) => n,
                _ => 0,
            })
            .sum()
    };
    let oplog_ops = total_ops(&buckets);
    let uploads = upload_rows(db)?;
    let upload_ops = total_ops(&uploads);
    let target = checkpoint_requests::read(db, "target_checkpoint_request_id")?;
    let last_seen = checkpoint_requests::read(db, "last_seen_checkpoint_request_id")?;
    let last_applied = checkpoint_requests::read(db, "last_applied_checkpoint_request_id")?;
    // A record this build did not write (or edited by hand) is shown as the text it is.
    let healed = checkpoint_requests::last_heal(db)?
        .map(|text| serde_json::from_str::<Json>(&text).unwrap_or(Json::String(text)));
    let priorities = sql::query_all(
        db,
        "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority",
        [],
        |r| {
            let priority: i64 = r.get(0)?;
            Ok(json!({
                "priority": if priority == i64::from(i32::MAX) { json!("full") } else { json!(priority) },
                "last_synced_at": r.get::<_, Value>(1).map(|v| to_json(&v))?,
            }))
        },
    )?;
    let streams = sql::query_all(
        db,
        "SELECT stream_name, local_params, active, is_default, ttl, expires_at, last_synced_at FROM ps_stream_subscriptions ORDER BY id",
        [],
        |r| {
            Ok(json!({
                "name": r.get::<_, String>(0)?,
                "parameters": r.get::<_, String>(1)?,
                "active": r.get::<_, bool>(2)?,
                "is_default": r.get::<_, bool>(3)?,
                "ttl": r.get::<_, Option<i64>>(4)?,
                "expires_at": r.get::<_, Option<i64>>(5)?,
                "last_synced_at": r.get::<_, Option<i64>>(6)?,
            }))
        },
    )?;

    let bulk_download = crate::sync::bulk::active(db)?;
    let mut notes: Vec<String> = healed.as_ref().map(heal_note).into_iter().collect();
    if bulk_download {
        notes.push(BULK_NOTE.to_owned());
    }
    let apply_around = crate::config::apply_around_pending(db)?;
    let held_rows = crate::config::held_row_count(db)?;
    let held_back = held_back(&HeldBack {
        upload_ops,
        transactions: uploads.len(),
        target,
        last_seen,
        buckets: &buckets,
        around: apply_around.then_some(held_rows),
    });
    Ok(json!({
        "internal_version": internal_version,
        "internal_version_supported": internal_version <= LATEST_VERSION,
        "client_id": client_id,
        "tables": tables,
        "buckets": rows_to_json(&BUCKET_COLUMNS, &buckets),
        "oplog_ops": oplog_ops,
        "untyped_rows": count(db, "SELECT count(*) FROM ps_untyped")?,
        "updated_rows": count(db, "SELECT count(*) FROM ps_updated_rows")?,
        "uploads": {
            "transactions": uploads.len(),
            "ops": upload_ops,
            "queue": rows_to_json(&UPLOAD_COLUMNS, &uploads),
        },
        "write_checkpoint": {
            "target": match target { Some(MAX_OP_ID) => json!("after upload"), other => json!(other) },
            "last_seen": last_seen,
            "last_applied": last_applied,
            "healed": healed,
        },
        "last_synced": priorities,
        "streams": streams,
        "sync_running_here": crate::sync::iteration_active(state),
        "apply_around_pending_uploads": apply_around,
        "held_rows": held_rows,
        "held_back": held_back,
        "bulk_download": bulk_download,
        "notes": notes,
    }))
}

/// The note while a large download is stored in bulk (`sync::bulk`).
const BULK_NOTE: &str = "a large download is being stored in bulk: ps_oplog's indexes ps_oplog_row and ps_oplog_key are left out until it is complete, then built in one pass (superseded operations are resolved then too)";

/// The sentence for the last stuck-gate heal `start` recorded (docs/diagnostics.md, "`notes`").
fn heal_note(record: &Json) -> String {
    let at = match &record["at"] {
        Json::Number(n) => format!("at {n} (microseconds since the epoch)"),
        _ => "at an unknown time".to_owned(),
    };
    let found = format!(
        "a sync start {at} found the local-write gate closed with nothing to upload and no write checkpoint requested"
    );
    match (record["action"].as_str(), &record["checkpoint_request_id"]) {
        (Some("requested"), Json::Number(id)) => {
            format!("{found}; it healed the gate by waiting for checkpoint request {id} instead")
        }
        (Some("left to the client"), _) => {
            format!("{found}; in legacy mode the core cannot request a write checkpoint, so it left that to the client")
        }
        _ => format!("a sync start recorded a stuck local-write gate: {record}"),
    }
}

/// What decides `held_back`.
struct HeldBack<'a> {
    upload_ops: i64,
    transactions: usize,
    target: Option<i64>,
    last_seen: Option<i64>,
    buckets: &'a [Vec<Value>],
    /// With `apply_around_pending_uploads` on: the rows held at their local version.
    around: Option<i64>,
}

/// What holds downloaded data back right now, in plain words (empty when nothing does). The
/// rules are the local-write gate's (docs/diagnostics.md).
fn held_back(h: &HeldBack) -> Vec<String> {
    let mut reasons = Vec::new();
    if h.upload_ops > 0 {
        let consequence = match h.around {
            None => "no checkpoint is applied until they are uploaded",
            Some(_) => "checkpoints are applied around the rows they touch",
        };
        reasons.push(format!(
            "{} local write(s) in {} transaction(s) wait for upload; {consequence}",
            h.upload_ops, h.transactions
        ));
    }
    if let Some(rows) = h.around.filter(|n| *n > 0) {
        reasons.push(format!(
            "{rows} row(s) with local writes keep their local version until the service covers those writes (apply_around_pending_uploads)"
        ));
    }
    match h.target {
        Some(MAX_OP_ID) if h.upload_ops == 0 => reasons.push(
            "local writes were uploaded, but no write checkpoint was requested yet; checkpoints wait for one".into(),
        ),
        Some(t) if h.last_seen.is_none_or(|s| s < t) && t != MAX_OP_ID => reasons.push(format!(
            "waiting for write checkpoint {t}, last seen {}",
            h.last_seen.map_or("none".to_owned(), |s| s.to_string())
        )),
        _ => {}
    }
    for bucket in h.buckets {
        let (Value::Text(name), Value::Integer(last_op), Value::Integer(applied), Value::Integer(pending_delete)) =
            (&bucket[0], &bucket[2], &bucket[3], &bucket[5])
        else {
            continue;
        };
        if *pending_delete != 0 {
            reasons.push(format!("bucket {name} is being removed"));
        } else if last_op > applied {
            reasons.push(format!(
                "bucket {name} has operations up to {last_op} downloaded but applied only up to {applied} (its checkpoint is not complete, or waits)"
            ));
        }
    }
    reasons
}

/// Which diagnostic table a module serves.
#[derive(Clone, Copy)]
pub enum DiagnosticTable {
    Buckets,
    Uploads,
}

impl DiagnosticTable {
    fn schema(self) -> &'static CStr {
        match self {
            DiagnosticTable::Buckets => c"CREATE TABLE x(name TEXT, ops INTEGER, last_op INTEGER, last_applied_op INTEGER, checksum TEXT, pending_delete INTEGER, downloaded_size INTEGER, priority INTEGER)",
            DiagnosticTable::Uploads => c"CREATE TABLE x(tx_id INTEGER, ops INTEGER, first_id INTEGER, last_id INTEGER, tables TEXT)",
        }
    }
}

/// The module's auxiliary data: the connection's state and which table it is.
pub type DiagnosticAux = (Arc<DatabaseState>, DiagnosticTable);

#[repr(C)]
pub struct DiagnosticVTab {
    base: sqlite3_vtab,
    db: *mut ffi::sqlite3,
    state: Arc<DatabaseState>,
    table: DiagnosticTable,
}

// SAFETY: `#[repr(C)]` with `sqlite3_vtab` first, as rusqlite requires; callbacks return errors
// instead of panicking (and rusqlite catches panics in its trampolines).
unsafe impl<'vtab> VTab<'vtab> for DiagnosticVTab {
    type Aux = DiagnosticAux;
    type Cursor = DiagnosticCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&DiagnosticAux>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
        let (state, table) = aux.cloned().ok_or_else(crate::crud::misuse)?;
        // SAFETY: the handle is only used to read while SQLite runs one of our callbacks.
        let db = unsafe { db.handle() };
        Ok((
            Cow::Borrowed(table.schema()),
            DiagnosticVTab {
                base: sqlite3_vtab::default(),
                db,
                state,
                table,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
        info.set_estimated_cost(100.0);
        Ok(true)
    }

    fn open(&'vtab mut self) -> rusqlite::Result<DiagnosticCursor<'vtab>> {
        Ok(DiagnosticCursor {
            base: sqlite3_vtab_cursor::default(),
            table: self,
            rows: Vec::new(),
            at: 0,
        })
    }
}

impl CreateVTab<'_> for DiagnosticVTab {
    const KIND: VTabKind = VTabKind::EponymousOnly;
}

#[repr(C)]
pub struct DiagnosticCursor<'vtab> {
    base: sqlite3_vtab_cursor,
    table: &'vtab DiagnosticVTab,
    rows: Vec<Vec<Value>>,
    at: usize,
}

// SAFETY: `#[repr(C)]` with `sqlite3_vtab_cursor` first, as rusqlite requires.
unsafe impl VTabCursor for DiagnosticCursor<'_> {
    fn filter(&mut self, _idx_num: c_int, _idx_str: Option<&str>, _args: &Filters<'_>) -> rusqlite::Result<()> {
        // SAFETY: SQLite calls xFilter on the open connection the table belongs to.
        let db = unsafe { crate::function::connection_for(self.table.db) };
        let rows = match self.table.table {
            DiagnosticTable::Buckets => bucket_rows(&db, &self.table.state),
            DiagnosticTable::Uploads => upload_rows(&db),
        };
        self.rows = rows.map_err(|e| rusqlite::Error::ModuleError(e.to_string()))?;
        self.at = 0;
        Ok(())
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        self.at += 1;
        Ok(())
    }

    fn eof(&self) -> bool {
        self.at >= self.rows.len()
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        match self.rows.get(self.at).and_then(|r| r.get(i as usize)) {
            Some(value) => ctx.set_result(value),
            None => ctx.set_result(&rusqlite::types::Null),
        }
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        Ok(self.at as i64)
    }
}

#[cfg(test)]
mod tests;
