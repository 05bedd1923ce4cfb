//! `status`, `crud` and `query`: reading a database with the extension loaded.

use std::path::Path;

use powersync_client::{PowerSyncDatabase, Row, SqlValue, FULL_SYNC_PRIORITY};
use serde_json::{json, Value};

use crate::cli::args::CrudAction;
use crate::cli::exit::CliError;

const MAX_OP_ID: i64 = i64::MAX;

/// How an inspection command opens the file.
#[derive(Clone, Copy)]
enum Access {
    /// `SQLITE_OPEN_READ_ONLY`, no migration: the file is never written.
    ReadOnly,
    /// Read-write, migrated to the current internal version (a writing `query`).
    Write,
}

async fn open(path: &Path, access: Access) -> Result<PowerSyncDatabase, CliError> {
    if !path.exists() {
        return Err(CliError::Other(format!("{}: no such database file", path.display())));
    }
    let p = path.to_path_buf();
    Ok(tokio::task::spawn_blocking(move || match access {
        Access::ReadOnly => PowerSyncDatabase::open_read_only(&p),
        Access::Write => PowerSyncDatabase::open_existing(&p),
    })
    .await
    .map_err(|e| CliError::Other(e.to_string()))??)
}

pub(super) fn format_ms(ms: Option<i64>) -> String {
    match ms {
        None => "never".into(),
        Some(ms) => {
            let secs = ms.div_euclid(1000);
            let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
            let (y, m, d) = civil_from_days(days);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            )
        }
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

fn kv(rows: &[Row], key: &str) -> Option<i64> {
    rows.iter()
        .find(|r| r.get_str("key") == Some(key))
        .and_then(|r| match r.get("value") {
            Some(SqlValue::Integer(i)) => Some(*i),
            Some(SqlValue::Text(t)) => t.parse().ok(),
            _ => None,
        })
}

/// Why downloaded data is not (yet) applied, in words.
pub(crate) fn held_back_reason(pending: i64, target: Option<i64>, seen: Option<i64>, unapplied_buckets: i64) -> String {
    if pending > 0 {
        return format!(
            "{pending} local change(s) wait for upload; downloaded data is applied only after they are uploaded and the service confirms them with a write checkpoint"
        );
    }
    match target {
        Some(MAX_OP_ID) => {
            return "local changes were uploaded, but no write checkpoint was obtained yet; the next sync fetches one"
                .into()
        }
        Some(t) if seen.is_none_or(|s| s < t) => {
            return format!(
                "waiting for write checkpoint {t}; the service has confirmed up to {}",
                seen.map_or("none".to_string(), |s| s.to_string())
            )
        }
        _ => {}
    }
    if unapplied_buckets > 0 {
        format!("{unapplied_buckets} bucket(s) have downloaded operations that are not applied yet (the checkpoint is incomplete or failed validation; the next sync continues)")
    } else {
        "nothing is held back".into()
    }
}

/// The app's tables as the database shows them: generated JSON views, direct tables (by their
/// `/* ps-managed` marker) and raw tables (user tables whose triggers record local writes in
/// `ps_crud`; a raw table without such triggers cannot be told from any other table).
const TABLE_KINDS: &str = "\
SELECT name, CASE WHEN sql LIKE '%\"ps\\_data\\_local\\_\\_%' ESCAPE '\\' THEN 'JSON view, local-only' ELSE 'JSON view' END AS kind
  FROM sqlite_master WHERE type = 'view' AND sql GLOB '*-- powersync-auto-generated'
UNION ALL
SELECT name, CASE WHEN sql LIKE '%local-only */%' THEN 'direct, local-only' ELSE 'direct' END
  FROM sqlite_master WHERE type = 'table' AND sql LIKE '%/* ps-managed%'
UNION ALL
SELECT DISTINCT tbl_name, 'raw' FROM sqlite_master t
  WHERE type = 'trigger' AND sql LIKE '%INSERT INTO powersync\\_crud%' ESCAPE '\\'
    AND NOT EXISTS (SELECT 1 FROM sqlite_master o WHERE o.name = t.tbl_name
      AND ((o.type = 'view' AND o.sql GLOB '*-- powersync-auto-generated') OR (o.type = 'table' AND o.sql LIKE '%/* ps-managed%')))
ORDER BY name";

pub(crate) async fn status(path: &Path, as_json: bool) -> Result<(), CliError> {
    let db = open(path, Access::ReadOnly).await?;
    let s = db.status();
    let tables = db.query(TABLE_KINDS, vec![]).await?;
    let buckets = db
        .query(
            "SELECT name, count_at_last + count_since_last AS ops, last_op, last_applied_op FROM ps_buckets ORDER BY name",
            vec![],
        )
        .await?;
    let pending = db.query("SELECT count(*) AS n FROM ps_crud", vec![]).await?;
    let pending = pending.first().and_then(|r| r.get_i64("n")).unwrap_or(0);
    let transactions = db.crud_transactions().await?.len();
    let kv_rows = db.query("SELECT key, value FROM ps_kv", vec![]).await?;
    let target = kv(&kv_rows, "target_checkpoint_request_id");
    let seen = kv(&kv_rows, "last_seen_checkpoint_request_id");
    let applied = kv(&kv_rows, "last_applied_checkpoint_request_id");
    let unapplied = buckets
        .iter()
        .filter(|b| b.get_i64("last_op").unwrap_or(0) > b.get_i64("last_applied_op").unwrap_or(0))
        .count() as i64;
    let reason = held_back_reason(pending, target, seen, unapplied);
    let client_id = db.client_id().await?;
    let parked = db.parked_transactions().await?;

    if as_json {
        let out = json!({
            "client_id": client_id,
            "connected": false,
            "has_synced": s.has_synced(),
            "last_synced_at_ms": s.last_synced_at_ms(),
            "priorities": s.priority_status.iter().map(|p| json!({
                // The extension's "complete sync" sentinel (i32::MAX) is not a priority anyone chose.
                "priority": if p.priority == FULL_SYNC_PRIORITY { Value::from("full") } else { Value::from(p.priority) }, "has_synced": p.has_synced, "last_synced_at_ms": p.last_synced_at_ms})).collect::<Vec<_>>(),
            "tables": tables.iter().map(Row::to_json).collect::<Vec<_>>(),
            "buckets": buckets.iter().map(Row::to_json).collect::<Vec<_>>(),
            "streams": s.streams.iter().map(|st| json!({
                "name": st.name, "parameters": st.parameters, "active": st.active, "is_default": st.is_default,
                "has_explicit_subscription": st.has_explicit_subscription, "last_synced_at_ms": st.last_synced_at_ms})).collect::<Vec<_>>(),
            "pending_uploads": {"changes": pending, "transactions": transactions},
            "parked_uploads": parked.iter().map(|p| p.tx_id).collect::<Vec<_>>(),
            "write_checkpoint": {"target": target.map(|t| if t == MAX_OP_ID { Value::from("pending") } else { Value::from(t) }),
                                 "last_seen": seen, "last_applied": applied},
            "held_back": reason,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    println!("database:    {}", path.display());
    println!("client id:   {client_id}");
    println!("connection:  not connected (this command only reads the database; `sync` connects)");
    println!(
        "last sync:   {}",
        if s.has_synced() {
            format_ms(s.last_synced_at_ms())
        } else {
            "never completed".into()
        }
    );
    println!("priorities:");
    if s.priority_status.is_empty() {
        println!("  (none synced yet)");
    }
    for p in &s.priority_status {
        let name = if p.priority == FULL_SYNC_PRIORITY {
            "complete sync".to_string()
        } else {
            format!("priority {}", p.priority)
        };
        println!("  {name}: synced at {}", format_ms(p.last_synced_at_ms));
    }
    println!("tables:");
    if tables.is_empty() {
        println!("  (none)");
    }
    for t in &tables {
        println!(
            "  {}: {}",
            t.get_str("name").unwrap_or("?"),
            t.get_str("kind").unwrap_or("?")
        );
    }
    println!("buckets:");
    if buckets.is_empty() {
        println!("  (none)");
    }
    for b in &buckets {
        println!(
            "  {}: {} ops, last_op {}, last_applied {}",
            b.get_str("name").unwrap_or("?"),
            b.get_i64("ops").unwrap_or(0),
            b.get_i64("last_op").unwrap_or(0),
            b.get_i64("last_applied_op").unwrap_or(0)
        );
    }
    if !s.streams.is_empty() {
        println!("streams:");
        for st in &s.streams {
            println!(
                "  {}{}: {}{}, last synced {}",
                st.name,
                st.parameters.as_deref().map(|p| format!(" {p}")).unwrap_or_default(),
                if st.active { "active" } else { "inactive" },
                if st.has_explicit_subscription {
                    ", subscribed"
                } else if st.is_default {
                    ", default"
                } else {
                    ""
                },
                format_ms(st.last_synced_at_ms)
            );
        }
    }
    println!("pending uploads: {pending} change(s) in {transactions} transaction(s)");
    if !parked.is_empty() {
        println!(
            "parked uploads: {} transaction(s) (never uploaded unless retried: `crud --retry TX`)",
            parked.len()
        );
    }
    let target_text = match target {
        None => "none".to_string(),
        Some(MAX_OP_ID) => "to be requested after upload".to_string(),
        Some(t) => t.to_string(),
    };
    println!(
        "write checkpoint: target {target_text}, last seen {}, last applied {}",
        seen.map_or("none".into(), |v| v.to_string()),
        applied.map_or("none".into(), |v| v.to_string())
    );
    println!("held back:   {reason}");
    Ok(())
}

fn entry_line(e: &powersync_client::CrudEntry) -> String {
    let data = e
        .data
        .as_ref()
        .map(|d| format!(" {}", Value::Object(d.clone())))
        .unwrap_or_default();
    let op = serde_json::to_value(e.op)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    format!("  #{} {op} {}/{}{data}", e.op_id, e.table, e.id)
}

/// `crud --park/--discard/--retry TX`: opens the file for writing (these change the queue).
pub(crate) async fn crud_action(path: &Path, action: CrudAction) -> Result<(), CliError> {
    let db = open(path, Access::Write).await?;
    let (n, what) = match action {
        CrudAction::Park(tx) => (db.park_transaction(tx).await?, format!("parked transaction {tx}")),
        CrudAction::Discard(tx) => (db.discard_transaction(tx).await?, format!("discarded transaction {tx}")),
        CrudAction::Retry(tx) => (db.retry_parked(tx).await?, format!("transaction {tx} is queued again")),
    };
    println!("{what} ({n} change(s))");
    Ok(())
}

pub(crate) async fn crud(path: &Path, as_json: bool) -> Result<(), CliError> {
    let db = open(path, Access::ReadOnly).await?;
    let txs = db.crud_transactions().await?;
    let errors = db.upload_errors().await?;
    let parked = db.parked_transactions().await?;
    let error_of = |tx: Option<i64>| errors.iter().find(|e| Some(e.tx_id) == tx);
    if as_json {
        let out: Vec<Value> = txs
            .iter()
            .map(|t| {
                json!({"tx_id": t.tx_id, "entries": serde_json::to_value(&t.entries).unwrap_or(Value::Null),
                       "last_error": error_of(t.tx_id)})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "transactions": out, "parked": parked })).unwrap_or_default()
        );
        return Ok(());
    }
    if txs.is_empty() {
        println!("no pending uploads");
    }
    for t in &txs {
        let tx = t.tx_id.map_or("-".to_string(), |t| t.to_string());
        println!("transaction {tx} ({} change(s))", t.entries.len());
        if let Some(e) = error_of(t.tx_id) {
            println!(
                "  last error ({} attempt(s), {} rejection(s), {}): {}",
                e.attempts,
                e.rejections,
                format_ms(Some(e.at_ms)),
                e.last_error
            );
        }
        for e in &t.entries {
            println!("{}", entry_line(e));
        }
    }
    for p in &parked {
        println!(
            "parked transaction {} ({} change(s), parked {}): {}",
            p.tx_id,
            p.entries.len(),
            format_ms(Some(p.parked_at_ms)),
            p.reason
        );
        for e in &p.entries {
            println!("{}", entry_line(e));
        }
    }
    Ok(())
}

pub(crate) async fn query(path: &Path, sql: &str, as_json: bool) -> Result<(), CliError> {
    // Read-only unless the statement writes; only then is the file opened for writing (and
    // migrated, like any database the client writes to).
    let db = open(path, Access::ReadOnly).await?;
    let rows = match db.query(sql, vec![]).await {
        // A statement that writes, or a read that calls a writing function (e.g.
        // `SELECT powersync_create_raw_table_crud_trigger(...)`), which the read-only
        // connection refused before changing anything.
        Err(powersync_client::Error::NotReadOnly)
        | Err(powersync_client::Error::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error {
                code: rusqlite::ErrorCode::ReadOnly,
                ..
            },
            _,
        ))) => {
            drop(db);
            open(path, Access::Write).await?.execute_rows(sql, vec![]).await
        }
        other => other,
    }
    .map_err(|e| CliError::Other(format!("query failed: {e}")))?;
    if as_json {
        let out: Vec<Value> = rows.iter().map(Row::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    if let Some(first) = rows.first() {
        println!("{}", first.columns().join("\t"));
    }
    for r in &rows {
        let cells: Vec<String> = r
            .values()
            .iter()
            .map(|v| match v {
                SqlValue::Null => "NULL".to_string(),
                SqlValue::Integer(i) => i.to_string(),
                SqlValue::Real(f) => f.to_string(),
                SqlValue::Text(t) => t.clone(),
                SqlValue::Blob(b) => format!("x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_ms(Some(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_ms(Some(1795315176450)), "2026-11-22 02:39:36 UTC");
        assert_eq!(format_ms(None), "never");
    }

    #[test]
    fn held_back_in_words() {
        assert!(held_back_reason(2, Some(MAX_OP_ID), None, 0).starts_with("2 local change(s) wait for upload"));
        assert!(held_back_reason(0, Some(MAX_OP_ID), None, 0).contains("no write checkpoint was obtained"));
        assert_eq!(
            held_back_reason(0, Some(9), Some(8), 0),
            "waiting for write checkpoint 9; the service has confirmed up to 8"
        );
        assert_eq!(held_back_reason(0, Some(8), Some(8), 0), "nothing is held back");
        assert!(held_back_reason(0, None, None, 1).starts_with("1 bucket(s)"));
    }
}
