//! A crash between emptying `ps_crud` and storing the write checkpoint (issue 21 item 4; docs/decisions.md,
//! "Healing a stuck write gate"). A real `powersync-client sync` uploads a local write and
//! completes it (queue empty, target "after upload"); the test service stalls its write-checkpoint
//! request, and the process is killed with SIGKILL right there. The next start recovers: in
//! requests mode the extension itself waits for a fresh checkpoint request; in legacy mode it
//! leaves the gate closed and the client fetches a write checkpoint. Either way the write made
//! before the crash is on the server once, stays in the local view, and the gate opens.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use powersync_client::{CheckpointMode, PowerSyncDatabase, SyncOptions};
use powersync_test_service::{Fault, TestService};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_powersync-client");
const MAX_TARGET: &str = "9223372036854775807";

/// `(rows in ps_crud, the target as text)`, read without writing.
fn gate(path: &Path) -> (i64, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = PowerSyncDatabase::open_read_only(path).unwrap();
        let row = &db
            .query(
                "SELECT (SELECT count(*) FROM ps_crud) AS n, \
                 (SELECT CAST(value AS TEXT) FROM ps_kv WHERE key = 'target_checkpoint_request_id') AS t",
                vec![],
            )
            .await
            .unwrap()[0];
        (row.get_i64("n").unwrap(), row.get_str("t").unwrap_or("none").to_owned())
    })
}

/// Makes one local write, then runs the CLI until it has uploaded and completed it and waits for
/// its write checkpoint, and kills it there. Returns the database file.
fn crash_after_upload(svc: &TestService, dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("app.db");
    let schema = dir.path().join("schema.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = PowerSyncDatabase::open(&path, SCHEMA).unwrap();
        db.execute(
            "INSERT INTO todos(id, description, owner_id) VALUES ('w1', 'before the crash', 'alice')",
            vec![],
        )
        .await
        .unwrap();
        drop(db);
    });
    // The write checkpoint is requested only after the completed upload was committed.
    svc.inject(Fault::Stall {
        path_prefix: "/write-checkpoint2.json".into(),
        duration: Duration::from_secs(120),
    });
    let mut child = sync_command(svc, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !(svc.rows("todos").len() == 1 && gate(&path) == (0, MAX_TARGET.to_owned())) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never reached the crash window: {:?}",
            gate(&path)
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    svc.clear_faults();
    // The stuck state: uploaded, nothing queued, nothing requested.
    assert_eq!(gate(&path), (0, MAX_TARGET.to_owned()));
    assert_eq!(svc.stats().write_checkpoints, 0);
    assert_eq!(svc.stats().checkpoint_requests, 0);
    path
}

/// `powersync-client sync` of the database made by [`crash_after_upload`] against `svc`, as alice
/// (legacy mode, uploads to the service's backend endpoint).
fn sync_command(svc: &TestService, path: &Path) -> Command {
    let schema = path.with_file_name("schema.json");
    let token = svc.token("alice", Duration::from_secs(600));
    let mut command = Command::new(BIN);
    command
        .args([
            "sync",
            "--db",
            path.to_str().unwrap(),
            "--schema",
            schema.to_str().unwrap(),
        ])
        .args([
            "--endpoint",
            &svc.url(),
            "--token",
            &token,
            "--upload-url",
            &svc.upload_url(),
        ])
        .args(["--retry-delay-ms", "100"])
        .env_remove("POWERSYNC_TOKEN");
    command
}

async fn diagnostics(db: &PowerSyncDatabase) -> Value {
    let rows = db.query("SELECT powersync_diagnostics() AS d", vec![]).await.unwrap();
    serde_json::from_str(rows[0].get_str("d").unwrap()).unwrap()
}

#[test]
fn requests_mode_start_heals_the_gate_a_crash_left_closed() {
    let svc = Arc::new(service());
    let dir = tempfile::tempdir().unwrap();
    let path = crash_after_upload(&svc, &dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(restart_in_requests_mode(svc, &path));
}

async fn restart_in_requests_mode(svc: Arc<TestService>, path: &Path) {
    let db = PowerSyncDatabase::open(path, SCHEMA).unwrap();
    assert_eq!(
        diagnostics(&db).await["held_back"][0],
        "local writes were uploaded, but no write checkpoint was requested yet; checkpoints wait for one"
    );
    let opts = SyncOptions {
        checkpoint_mode: CheckpointMode::Requests,
        // No re-posts within the test: every POST counted below is a distinct request.
        checkpoint_repost_interval: Duration::from_secs(600),
        ..fast_options()
    };
    db.connect(TestConnector::new(svc.clone(), "alice"), opts)
        .await
        .unwrap();
    eventually("the gate opens", || async { write_checkpoint_applied(&db).await }).await;

    // Only the stream's own checkpoint request was posted: the extension's heal made it the
    // target, so the client had no write checkpoint left to request (without the heal it posts
    // a second one).
    assert_eq!(svc.stats().checkpoint_requests, 1);
    let d = diagnostics(&db).await;
    assert_eq!(d["write_checkpoint"]["healed"]["mode"], "requests");
    assert_eq!(d["write_checkpoint"]["healed"]["checkpoint_request_id"], 2);
    assert_eq!(d["write_checkpoint"]["target"], 2);
    let note = d["notes"][0].as_str().unwrap();
    assert!(
        note.ends_with("it healed the gate by waiting for checkpoint request 2 instead"),
        "{note}"
    );
    assert_eq!(d["held_back"], serde_json::json!([]));

    assert_eq!(
        column(&db, "SELECT description FROM todos").await,
        vec!["before the crash"]
    );
    let server = svc.rows("todos");
    assert_eq!(server.len(), 1);
    assert_eq!(server[0].0, "w1");
    assert_eq!(server[0].1["description"], "before the crash");
    db.disconnect().await;
}

#[test]
fn legacy_mode_start_leaves_the_gate_to_the_client_which_opens_it() {
    let svc = service();
    let dir = tempfile::tempdir().unwrap();
    let path = crash_after_upload(&svc, &dir);
    let db = path.to_str().unwrap();

    let o = sync_command(&svc, &path).arg("--once").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    // The client's upload pass fetched the write checkpoint the extension could not.
    assert_eq!(svc.stats().write_checkpoints, 1);

    let doctor = Command::new(BIN).args(["doctor", "--db", db]).output().unwrap();
    let doctor = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.contains("held back:\n  nothing\n"), "{doctor}");
    assert!(doctor.contains("notes:\n  - a sync start at "), "{doctor}");
    assert!(
        doctor.contains("in legacy mode the core cannot request a write checkpoint, so it left that to the client"),
        "{doctor}"
    );
    let d: Value = serde_json::from_slice(
        &Command::new(BIN)
            .args(["doctor", "--db", db, "--json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(d["write_checkpoint"]["target"], 1);
    assert_eq!(d["write_checkpoint"]["last_applied"], 1);
    assert_eq!(d["uploads"]["ops"], 0);

    let rows = svc.rows("todos");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1["description"], "before the crash");
    let o = Command::new(BIN)
        .args(["query", "--db", db, "SELECT description FROM todos"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "description\nbefore the crash\n");
}
