//! The `powersync-client` binary: flags, messages and exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use powersync_test_service::Fault;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_powersync-client");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("POWERSYNC_TOKEN")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("schema.json"), SCHEMA).unwrap();
        Fixture { dir }
    }
    fn db(&self) -> String {
        self.dir.path().join("cli.db").display().to_string()
    }
    fn schema(&self) -> String {
        self.dir.path().join("schema.json").display().to_string()
    }
    fn sync(&self, endpoint: &str, extra: &[&str]) -> Output {
        let (db, schema) = (self.db(), self.schema());
        let mut args = vec![
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            endpoint,
            "--retry-delay-ms",
            "100",
        ];
        args.extend_from_slice(extra);
        run(&args)
    }
}

fn unused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[test]
fn help_on_every_command() {
    for cmd in [
        vec!["--help"],
        vec!["sync", "--help"],
        vec!["status", "--help"],
        vec!["crud", "--help"],
        vec!["query", "--help"],
    ] {
        let o = run(&cmd);
        assert!(o.status.success(), "{cmd:?}");
        let (out, _) = text(&o);
        assert!(out.contains("Usage"), "{cmd:?}: {out}");
        assert!(out.contains("Exit codes"), "{cmd:?}: {out}");
    }
    let (out, _) = text(&run(&["sync", "--help"]));
    assert!(
        out.contains("\"batch\"") && out.contains("Authorization: Token"),
        "{out}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let o = run(&["sync", "--db", "x.db"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["bogus"]);
    assert_eq!(o.status.code(), Some(2));
    let f = Fixture::new();
    // No token source at all.
    let o = f.sync("http://127.0.0.1:1", &["--once"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no token"), "{}", text(&o).1);
    let o = f.sync("ftp://x", &["--token", "t"]);
    assert_eq!(o.status.code(), Some(2));
    let o = f.sync("http://x", &["--token", "t", "--stream", "s={bad json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("not valid JSON"));
}

#[test]
fn unreachable_service_exit_3() {
    let f = Fixture::new();
    let o = f.sync(&unused_url(), &["--token", "secret-token-value", "--once"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("could not reach the PowerSync service"), "{err}");
    assert!(!err.contains("secret-token-value"), "{err}");
}

#[test]
fn bad_credentials_exit_4_without_leaking_the_token() {
    let svc = service();
    let f = Fixture::new();
    // Debug logging on: the token must not show up in any log line either.
    let o = f.sync(&svc.url(), &["--token", "not.a.valid-jwt", "--once", "-vv"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("not.a.valid-jwt"), "{err}");
}

fn local_write(f: &Fixture) {
    // Create the database with the schema, then queue one local write.
    let db = powersync_client::PowerSyncDatabase::open(Path::new(&f.db()), SCHEMA).unwrap();
    drop(db);
    let o = run(&[
        "query",
        "--db",
        &f.db(),
        "INSERT INTO todos(id, description, owner_id) VALUES ('c1', 'from cli', 'alice')",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
}

#[test]
fn status_names_each_table_kind() {
    let f = Fixture::new();
    let schema = r#"{"tables": [
      {"name": "lists", "columns": [{"name": "name", "type": "text"}], "direct": true},
      {"name": "drafts", "columns": [{"name": "body", "type": "text"}], "direct": true, "local_only": true},
      {"name": "todos", "columns": [{"name": "description", "type": "text"}]},
      {"name": "notes", "columns": [{"name": "body", "type": "text"}], "local_only": true}]}"#;
    drop(powersync_client::PowerSyncDatabase::open(Path::new(&f.db()), schema).unwrap());
    for statement in [
        "CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT)",
        r#"SELECT powersync_create_raw_table_crud_trigger('{"name":"users","table_name":"users"}', 'users_insert', 'INSERT')"#,
    ] {
        let o = run(&["query", "--db", &f.db(), statement]);
        assert!(o.status.success(), "{:?}", text(&o));
    }
    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(
        out.contains("tables:\n  drafts: direct, local-only\n  lists: direct\n  notes: JSON view, local-only\n  todos: JSON view\n  users: raw\n"),
        "{out}"
    );
    let (out, _) = text(&run(&["status", "--db", &f.db(), "--json"]));
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["tables"][1], json!({"name": "lists", "kind": "direct"}));
}

#[test]
fn rejecting_backend_exit_5_and_write_kept() {
    let svc = service();
    let f = Fixture::new();
    local_write(&f);
    svc.inject(Fault::RespondStatus {
        path_prefix: "/upload".into(),
        status: 400,
        times: 1000,
    });
    let token = svc.token("alice", Duration::from_secs(600));
    let o = f.sync(
        &svc.url(),
        &["--token", &token, "--upload-url", &svc.upload_url(), "--once"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(5), "{err}");
    assert!(err.contains("rejected the upload (HTTP 400)"), "{err}");
    // The write is still queued.
    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert!(out.contains("PUT todos/c1"), "{out}");
}

#[test]
fn once_syncs_uploads_and_inspection_commands_show_it() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "groceries"}))])
        .unwrap();
    let f = Fixture::new();
    local_write(&f);
    let cmd = format!("echo {}", svc.token("alice", Duration::from_secs(600)));
    let o = f.sync(
        &svc.url(),
        &["--token-command", &cmd, "--upload-url", &svc.upload_url(), "--once"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("synced"), "{out}");
    assert_eq!(svc.rows("todos").len(), 1, "uploaded in the /upload format");
    let upload = svc.stats().last_upload.unwrap();
    assert_eq!(upload["batch"][0]["op"], "PUT");
    assert_eq!(upload["batch"][0]["type"], "todos");

    let (out, _) = text(&run(&["query", "--db", &f.db(), "SELECT name FROM lists"]));
    assert_eq!(out, "name\ngroceries\n");
    let (out, _) = text(&run(&[
        "query",
        "--db",
        &f.db(),
        "SELECT id, description FROM todos",
        "--json",
    ]));
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows, json!([{"id": "c1", "description": "from cli"}]));

    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(
        out.contains("global[]") && out.contains("user_todos[\"alice\"]"),
        "{out}"
    );
    assert!(out.contains("pending uploads: 0"), "{out}");
    assert!(out.contains("nothing is held back"), "{out}");
    let (out, _) = text(&run(&["status", "--db", &f.db(), "--json"]));
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["has_synced"], true);
    assert_eq!(st["buckets"].as_array().unwrap().len(), 2);

    let (out, _) = text(&run(&["crud", "--db", &f.db()]));
    assert_eq!(out.trim(), "no pending uploads");

    // Synced before: --once still waits for the service's current checkpoint in this run.
    svc.apply(vec![put("lists", "l2", json!({"name": "second"}))]).unwrap();
    let o = f.sync(&svc.url(), &["--token-command", &cmd, "--once"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let (out, _) = text(&run(&["query", "--db", &f.db(), "SELECT count(*) AS n FROM lists"]));
    assert_eq!(out, "n\n2\n");
}

#[test]
fn pending_status_and_crud_output() {
    let f = Fixture::new();
    local_write(&f);
    let (out, _) = text(&run(&["status", "--db", &f.db()]));
    assert!(out.contains("1 local change(s) wait for upload"), "{out}");
    assert!(
        out.contains("tables:\n  items: JSON view\n  lists: direct\n  todos: JSON view\n"),
        "{out}"
    );
    let (out, _) = text(&run(&["crud", "--db", &f.db(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["transactions"][0]["entries"][0]["id"], "c1");
    assert_eq!(v["transactions"][0]["entries"][0]["data"]["description"], "from cli");
    let o = run(&["status", "--db", "/nonexistent/x.db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("no such database file"));
    let o = run(&["query", "--db", &f.db(), "SELECT nope FROM nothing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.starts_with("error: query failed"), "{}", text(&o).1);
}

#[test]
fn without_once_stays_connected_until_interrupted() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let f = Fixture::new();
    let token = svc.token("alice", Duration::from_secs(600));
    let (db, schema, url) = (f.db(), f.schema(), svc.url());
    let child = Command::new(BIN)
        .args([
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            &url,
            "--token",
            &token,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while svc.stats().active_streams == 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "never connected");
        std::thread::sleep(Duration::from_millis(25));
    }
    // Live change while the CLI runs.
    svc.apply(vec![put("lists", "l2", json!({"name": "b"}))]).unwrap();
    loop {
        let (out, _) = text(&run(&["query", "--db", &db, "SELECT count(*) AS n FROM lists"]));
        if out == "n\n2\n" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "live change not synced: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).1.contains("disconnecting"));
}

#[test]
fn trace_logging_never_shows_the_token() {
    let svc = service();
    svc.apply(vec![put("lists", "l1", json!({"name": "a"}))]).unwrap();
    let f = Fixture::new();
    local_write(&f);
    let token = svc.token("alice", Duration::from_secs(600));
    let (db, schema, url, upload) = (f.db(), f.schema(), svc.url(), svc.upload_url());
    let o = Command::new(BIN)
        .args([
            "sync",
            "--db",
            &db,
            "--schema",
            &schema,
            "--endpoint",
            &url,
            "--token",
            &token,
            "--upload-url",
            &upload,
            "--once",
        ])
        .env("RUST_LOG", "trace")
        .env_remove("POWERSYNC_TOKEN")
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    // Trace logging of the HTTP stack did run.
    assert!(err.contains("TRACE") && err.contains("connection is ready"), "{err}");
    assert!(!err.contains(&token) && !out.contains(&token), "{err}");
    // Nor any part of it that would identify it (the signature).
    let signature = token.rsplit('.').next().unwrap();
    assert!(!err.contains(signature), "{err}");
}
