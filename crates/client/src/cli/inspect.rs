//! `status`, `crud` and `query`: reading a database with the extension loaded.

use std::path::Path;

use powersync_client::{PowerSyncDatabase, Row, SqlValue, FULL_SYNC_PRIORITY};
use serde_json::{json, Value};

use crate::cli::args::CrudAction;
use crate::cli::exit::CliError;

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

/// The extension's diagnostics document (`powersync_diagnostics()`, docs/diagnostics.md): the
/// one source of `status` and `doctor`.
async fn diagnostics(db: &PowerSyncDatabase) -> Result<Value, CliError> {
    let rows = db.query("SELECT powersync_diagnostics() AS d", vec![]).await?;
    let text = rows.first().and_then(|r| r.get_str("d")).unwrap_or("{}");
    serde_json::from_str(text).map_err(|e| CliError::Other(format!("unreadable diagnostics: {e}")))
}

/// `json` / `direct` / `raw` (and local-only) as people call them.
fn table_kind(table: &Value) -> String {
    let kind = match table["kind"].as_str() {
        Some("json") => "JSON view",
        Some(other) => other,
        None => "?",
    };
    if table["local_only"].as_bool() == Some(true) {
        format!("{kind}, local-only")
    } else {
        kind.to_owned()
    }
}

fn held_back_text(d: &Value) -> String {
    let reasons: Vec<&str> = d["held_back"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if reasons.is_empty() {
        "nothing is held back".into()
    } else {
        reasons.join("; ")
    }
}

fn int_text(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) async fn status(path: &Path, as_json: bool) -> Result<(), CliError> {
    let db = open(path, Access::ReadOnly).await?;
    let s = db.status();
    let d = diagnostics(&db).await?;
    let empty = Vec::new();
    let tables = d["tables"].as_array().unwrap_or(&empty);
    let buckets = d["buckets"].as_array().unwrap_or(&empty);
    let pending = d["uploads"]["ops"].as_i64().unwrap_or(0);
    let transactions = d["uploads"]["transactions"].as_i64().unwrap_or(0);
    let checkpoint = &d["write_checkpoint"];
    let reason = held_back_text(&d);
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
            "tables": tables.iter().map(|t| json!({"name": t["name"], "kind": table_kind(t)})).collect::<Vec<_>>(),
            "buckets": buckets.iter().map(|b| json!({"name": b["name"], "ops": b["ops"], "last_op": b["last_op"], "last_applied_op": b["last_applied_op"]})).collect::<Vec<_>>(),
            "streams": s.streams.iter().map(|st| json!({
                "name": st.name, "parameters": st.parameters, "active": st.active, "is_default": st.is_default,
                "has_explicit_subscription": st.has_explicit_subscription, "last_synced_at_ms": st.last_synced_at_ms})).collect::<Vec<_>>(),
            "pending_uploads": {"changes": pending, "transactions": transactions},
            "parked_uploads": parked.iter().map(|p| p.tx_id).collect::<Vec<_>>(),
            "write_checkpoint": checkpoint,
            "held_back": d["held_back"],
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
    for t in tables {
        println!("  {}: {}", t["name"].as_str().unwrap_or("?"), table_kind(t));
    }
    println!("buckets:");
    if buckets.is_empty() {
        println!("  (none)");
    }
    for b in buckets {
        println!(
            "  {}: {} ops, last_op {}, last_applied {}",
            b["name"].as_str().unwrap_or("?"),
            b["ops"],
            b["last_op"],
            b["last_applied_op"]
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
    println!(
        "write checkpoint: target {}, last seen {}, last applied {}",
        int_text(&checkpoint["target"]),
        int_text(&checkpoint["last_seen"]),
        int_text(&checkpoint["last_applied"])
    );
    println!("held back:   {reason}");
    Ok(())
}

/// `doctor`: the whole diagnostics document, for people (or as JSON).
pub(crate) async fn doctor(path: &Path, as_json: bool) -> Result<(), CliError> {
    let db = open(path, Access::ReadOnly).await?;
    let d = diagnostics(&db).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
        return Ok(());
    }
    println!("database:          {}", path.display());
    println!(
        "internal version:  {}{}",
        d["internal_version"],
        if d["internal_version_supported"] == json!(false) {
            " (newer than this build knows)"
        } else {
            ""
        }
    );
    println!("client id:         {}", int_text(&d["client_id"]));
    println!("tables:");
    for t in d["tables"].as_array().into_iter().flatten() {
        println!(
            "  {} ({}) stored in {}",
            t["name"].as_str().unwrap_or("?"),
            table_kind(t),
            int_text(&t["storage"])
        );
    }
    println!("buckets:");
    for b in d["buckets"].as_array().into_iter().flatten() {
        println!(
            "  {}: {} ops, last op {}, applied up to {}, checksum {}, {} bytes downloaded, priority {}{}",
            b["name"].as_str().unwrap_or("?"),
            b["ops"],
            b["last_op"],
            b["last_applied_op"],
            int_text(&b["checksum"]),
            b["downloaded_size"],
            int_text(&b["priority"]),
            if b["pending_delete"] == json!(1) {
                ", being removed"
            } else {
                ""
            }
        );
    }
    println!(
        "oplog:             {} ops (from the buckets' counters); {} untyped rows, {} rows to re-apply",
        d["oplog_ops"], d["untyped_rows"], d["updated_rows"]
    );
    println!(
        "upload queue:      {} op(s) in {} transaction(s)",
        d["uploads"]["ops"], d["uploads"]["transactions"]
    );
    for tx in d["uploads"]["queue"].as_array().into_iter().flatten() {
        println!(
            "  transaction {}: {} op(s) on {}",
            tx["tx_id"],
            tx["ops"],
            int_text(&tx["tables"])
        );
    }
    let checkpoint = &d["write_checkpoint"];
    println!(
        "write checkpoint:  target {}, last seen {}, last applied {}",
        int_text(&checkpoint["target"]),
        int_text(&checkpoint["last_seen"]),
        int_text(&checkpoint["last_applied"])
    );
    println!("last syncs:");
    for p in d["last_synced"].as_array().into_iter().flatten() {
        println!(
            "  priority {}: {}",
            int_text(&p["priority"]),
            int_text(&p["last_synced_at"])
        );
    }
    println!("streams:");
    for st in d["streams"].as_array().into_iter().flatten() {
        println!(
            "  {} {}: {}",
            st["name"].as_str().unwrap_or("?"),
            st["parameters"].as_str().unwrap_or(""),
            if st["active"] == json!(true) {
                "active"
            } else {
                "inactive"
            }
        );
    }
    println!("held back:");
    let reasons = d["held_back"].as_array().cloned().unwrap_or_default();
    if reasons.is_empty() {
        println!("  nothing");
    }
    for r in reasons {
        println!("  - {}", r.as_str().unwrap_or(""));
    }
    // What the extension did by itself, e.g. healing a stuck write gate (docs/diagnostics.md).
    let notes = d["notes"].as_array().cloned().unwrap_or_default();
    if !notes.is_empty() {
        println!("notes:");
    }
    for n in notes {
        println!("  - {}", n.as_str().unwrap_or(""));
    }
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
    fn diagnostics_in_words() {
        assert_eq!(held_back_text(&json!({"held_back": []})), "nothing is held back");
        assert_eq!(held_back_text(&json!({"held_back": ["a", "b"]})), "a; b");
        assert_eq!(
            table_kind(&json!({"kind": "json", "local_only": true})),
            "JSON view, local-only"
        );
        assert_eq!(table_kind(&json!({"kind": "direct", "local_only": false})), "direct");
        assert_eq!(int_text(&json!(null)), "none");
        assert_eq!(int_text(&json!("after upload")), "after upload");
        assert_eq!(int_text(&json!(812)), "812");
    }
}
