//! The official Rust SDK (`powersync` 0.2.0) on libpowersync.a: opens a database through the
//! SDK, connects to a PowerSync service, waits until it has synced, prints what arrived.
//!
//! Usage: rust-sdk-check DB_PATH ENDPOINT   (the token in the environment variable PS_TOKEN)
//! Prints `key: value` lines (`lists: N`, `todos: N`, ...); exits 1 if no complete sync within
//! 120 s. Run by tools/rust-sdk-check/run.sh (`make rust-sdk-check`).

mod http;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::Executor;
use async_trait::async_trait;
use futures_lite::{future, StreamExt};
use powersync::env::PowerSyncEnvironment;
use powersync::error::PowerSyncError;
use powersync::schema::{Column, Schema, Table};
use powersync::{Authenticator, ConnectionPool, PowerSyncDatabase, SyncOptions};

struct StaticToken(Arc<String>);

#[async_trait]
impl Authenticator for StaticToken {
    async fn resolve_credentials(&self) -> Result<Arc<String>, PowerSyncError> {
        Ok(self.0.clone())
    }
}

/// The demo's schema (tools/demo/schema.json).
fn schema() -> Schema {
    let mut schema = Schema::default();
    schema.tables.push(Table::create(
        "lists",
        vec![
            Column::text("name"),
            Column::text("created_at"),
            Column::text("owner_id"),
        ],
        |_| {},
    ));
    schema.tables.push(Table::create(
        "todos",
        vec![
            Column::text("list_id"),
            Column::text("description"),
            Column::text("notes"),
            Column::integer("priority"),
            Column::real("estimate_hours"),
            Column::integer("completed"),
            Column::text("created_at"),
            Column::text("owner_id"),
        ],
        |_| {},
    ));
    schema
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, db_path, endpoint] = &args[..] else {
        eprintln!("usage: rust-sdk-check DB_PATH ENDPOINT (token in PS_TOKEN)");
        std::process::exit(2);
    };
    let token = std::env::var("PS_TOKEN").expect("PS_TOKEN");
    if let Err(err) = run(db_path, endpoint, token) {
        eprintln!("rust-sdk-check: {err}");
        std::process::exit(1);
    }
}

fn run(db_path: &str, endpoint: &str, token: String) -> Result<(), String> {
    // The SDK's own call: powersync_core::powersync_init_static(), i.e. our shim.
    PowerSyncEnvironment::powersync_auto_extension().map_err(|e| format!("powersync_auto_extension: {e}"))?;
    let pool = ConnectionPool::open(db_path).map_err(|e| format!("open {db_path}: {e}"))?;

    let executor = Arc::new(Executor::new());
    for _ in 0..2 {
        let executor = executor.clone();
        std::thread::spawn(move || future::block_on(executor.run(future::pending::<()>())));
    }
    let env = PowerSyncEnvironment::custom(
        http::LoopbackHttp,
        pool,
        PowerSyncEnvironment::async_io(executor.clone()),
    );
    let db = PowerSyncDatabase::new(env, schema());

    future::block_on(async {
        let reader = db.reader().await.map_err(|e| e.to_string())?;
        let version: String = reader
            .query_row("select powersync_rs_version()", [], |row| row.get(0))
            .map_err(|e| e.to_string())?;
        println!("core extension: {version}");
        drop(reader);

        let started = Instant::now();
        db.connect(SyncOptions::download_only(endpoint, StaticToken(Arc::new(token))))
            .await;
        let mut statuses = db.watch_status();
        let deadline = async_io::Timer::after(Duration::from_secs(120));
        let synced = future::or(
            async {
                let mut last_error = None;
                while let Some(status) = statuses.next().await {
                    if let Some(err) = status.any_error() {
                        let text = err.to_string();
                        if last_error.as_ref() != Some(&text) {
                            eprintln!("sync status error (the SDK retries): {text}");
                            last_error = Some(text);
                        }
                    }
                    if status.has_synced() && !status.is_downloading() {
                        return true;
                    }
                }
                false
            },
            async {
                deadline.await;
                false
            },
        )
        .await;
        if !synced {
            return Err(format!("no complete sync within 120 s; status: {:?}", db.status()));
        }
        println!("synced in: {} ms", started.elapsed().as_millis());

        let reader = db.reader().await.map_err(|e| e.to_string())?;
        for (key, sql) in [
            ("lists", "select count(*) from lists"),
            ("todos", "select count(*) from todos"),
            ("buckets", "select count(*) from ps_buckets"),
            ("oplog", "select count(*) from ps_oplog"),
            ("pending uploads", "select count(*) from ps_crud"),
        ] {
            let n: i64 = reader
                .query_row(sql, [], |row| row.get(0))
                .map_err(|e| format!("{sql}: {e}"))?;
            println!("{key}: {n}");
        }
        let sample: String = reader
            .query_row(
                "select id || ' ' || description || ' (list ' || list_id || ')' from todos order by id limit 1",
                [],
                |row| row.get(0),
            )
            .map_err(|e| e.to_string())?;
        println!("first todo: {sample}");
        let status = db.status();
        println!(
            "status: connected {}, has_synced {}, priorities {:?}",
            status.is_connected(),
            status.has_synced(),
            status.priority_status()
        );
        drop(reader);
        db.disconnect().await;
        Ok(())
    })
}
