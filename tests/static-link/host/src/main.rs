//! A Rust program with libpowersync.a linked in: registers the extension with
//! powersync_init_static(), then uses it through rusqlite while this program's own std panics,
//! allocates and formats around it. Prints one line per check and `N passed, N failed`.

use std::ffi::c_int;

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

extern "C" {
    fn powersync_init_static() -> c_int;
}

fn checks() -> Vec<(&'static str, Result<String, String>)> {
    let mut results = Vec::new();
    // SAFETY: registers the extension's entry point with sqlite3_auto_extension.
    let rc = unsafe { powersync_init_static() };
    results.push((
        "powersync_init_static",
        if rc == 0 {
            Ok("0".into())
        } else {
            Err(format!("rc {rc}"))
        },
    ));
    let db = Connection::open_in_memory().expect("open");
    let text = |sql: &str| {
        db.query_row(sql, [], |row| row.get::<_, String>(0))
            .map_err(|e| e.to_string())
    };

    results.push((
        "powersync_rs_version",
        text("select powersync_rs_version()").and_then(check_prefix("0.5.")),
    ));
    results.push((
        "powersync_init",
        db.execute_batch("begin; select powersync_init(); commit;")
            .map_err(|e| e.to_string())
            .and_then(|()| text("select cast(count(*) as text) from ps_migration"))
            .and_then(check_prefix("14")),
    ));
    results.push((
        "powersync_diff",
        text(r#"select powersync_diff('{"a":1}', '{"a":2}')"#).and_then(check_prefix(r#"{"a":2}"#)),
    ));
    // An error from our code, reported as an SQL error.
    results.push((
        "invalid schema is an SQL error",
        match db.execute_batch("begin; select powersync_replace_schema('not json');") {
            Ok(()) => Err("accepted".into()),
            Err(err) => db
                .execute_batch("rollback")
                .map(|()| err.to_string())
                .map_err(|e| e.to_string()),
        },
    ));
    // This program's own unwinding next to ours: a panic in one of its SQL functions is caught
    // by rusqlite and becomes an SQL error; a plain catch_unwind in between.
    db.create_scalar_function(
        "host_panic",
        0,
        FunctionFlags::SQLITE_UTF8,
        |_| -> rusqlite::Result<i64> { panic!("host: deliberate panic in an SQL function") },
    )
    .expect("create_scalar_function");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    results.push((
        "host panic in an SQL function is an SQL error",
        match db.query_row("select host_panic()", [], |row| row.get::<_, i64>(0)) {
            Ok(v) => Err(format!("returned {v}")),
            Err(err) => Ok(err.to_string()),
        },
    ));
    let n = results.len();
    let caught = std::panic::catch_unwind(|| -> usize { panic!("host: deliberate panic after {n} checks") });
    std::panic::set_hook(hook);
    results.push((
        "host catch_unwind",
        match caught {
            Err(payload) => payload
                .downcast_ref::<String>()
                .cloned()
                .ok_or_else(|| "no message".to_string()),
            Ok(_) => Err("no panic".into()),
        },
    ));
    results.push((
        "powersync_client_id after the panics",
        text("select powersync_client_id()").and_then(|id| if id.len() == 36 { Ok(id) } else { Err(id) }),
    ));
    results
}

fn check_prefix(prefix: &'static str) -> impl Fn(String) -> Result<String, String> {
    move |text| {
        if text.starts_with(prefix) {
            Ok(text)
        } else {
            Err(format!("got {text:?}, want {prefix:?}..."))
        }
    }
}

fn main() {
    let results = checks();
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(detail) => println!("ok   {name}: {detail}"),
            Err(detail) => {
                failed += 1;
                println!("FAIL {name}: {detail}");
            }
        }
    }
    println!("rust host: {} passed, {failed} failed", results.len() - failed);
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
