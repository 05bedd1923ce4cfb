//! The `powersync-test-service` binary: help, exit codes, the first stdout line, seeding, tokens.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_powersync-test-service");

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("pts-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn every_subcommand_has_help() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("serve") && out.contains("token") && out.contains("Exit codes"),
        "{out}"
    );
    let (code, out, _) = run(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--rules",
        "--db",
        "--listen",
        "--seed",
        "--secret",
        "--kid",
        "--audience",
        "--keepalive",
    ] {
        assert!(out.contains(flag), "{flag} missing in {out}");
    }
    let (code, out, _) = run(&["token", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("--sub") && out.contains("--expires-in"), "{out}");
}

#[test]
fn bad_command_lines_and_files_have_their_exit_codes() {
    let (code, _, err) = run(&["serve", "--bogus"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["serve"]);
    assert_eq!(code, 2, "{err}");

    let (code, _, err) = run(&["serve", "--rules", "/nonexistent/rules.json"]);
    assert_eq!(code, 3);
    assert!(
        err.trim()
            .starts_with("powersync-test-service: cannot read /nonexistent/rules.json"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let rules = temp_file("bad-rules.json", r#"{"buckets": [{"name": "a", "tables": []}]}"#);
    let (code, _, err) = run(&["serve", "--rules", rules.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("lists no tables"), "{err}");

    let good = temp_file("good-rules.json", common::RULES);
    let seed = temp_file("bad-seed.json", r#"{"rows": {"lists": [{"name": "no id"}]}}"#);
    let (code, _, err) = run(&[
        "serve",
        "--rules",
        good.to_str().unwrap(),
        "--seed",
        seed.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("has no \"id\""), "{err}");

    // Port in use: a runtime failure (1).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run(&["serve", "--rules", good.to_str().unwrap(), "--listen", &addr]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot listen on"), "{err}");
}

#[tokio::test]
async fn serve_prints_its_url_first_and_serves_the_seed() {
    let rules = temp_file("rules.json", common::RULES);
    let rows: Vec<Value> = (0..2000)
        .map(|i| serde_json::json!({"id": format!("l{i:04}"), "name": format!("list {i}")}))
        .collect();
    let seed = temp_file("seed.json", &serde_json::json!({"rows": {"lists": rows}}).to_string());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--rules",
            rules.to_str().unwrap(),
            "--seed",
            seed.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("no first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");

    let body: Value = reqwest::get(format!("{url}/admin/rows?table=lists"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["rows"].as_array().unwrap().len(), 2000);
    assert_eq!(
        body["rows"][0],
        serde_json::json!({"id": "l0000", "data": {"name": "list 0"}})
    );

    // A token from the `token` subcommand (same default key) opens a stream.
    let (code, token, _) = run(&["token", "--sub", "demo", "--expires-in", "120"]);
    assert_eq!(code, 0);
    let resp = reqwest::Client::new()
        .post(format!("{url}/sync/stream"))
        .header("Authorization", format!("Token {}", token.trim()))
        .json(&common::request("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);

    // SIGTERM ends it cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let exit = rx.recv_timeout(Duration::from_secs(20)).expect("did not exit").unwrap();
    assert_eq!(exit.code(), Some(0));
}

#[test]
fn token_command_honours_the_key_flags() {
    let (code, token, _) = run(&[
        "token",
        "--sub",
        "u1",
        "--kid",
        "k9",
        "--audience",
        "aud9",
        "--secret",
        "s9",
    ]);
    assert_eq!(code, 0);
    let header = jsonwebtoken::decode_header(token.trim()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k9"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["aud9"]);
    let data = jsonwebtoken::decode::<Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(b"s9"),
        &validation,
    )
    .unwrap();
    assert_eq!(data.claims["sub"], "u1");
    let (code, _, _) = run(&["token"]);
    assert_eq!(code, 2);
}
