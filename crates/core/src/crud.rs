//! The insert-only CRUD virtual tables (docs/sql-functions.md, "Virtual tables"; docs/internal-storage.md):
//! `powersync_crud` (the generated triggers insert op/id/type/data/old/metadata and we build the
//! `ps_crud` JSON) and `powersync_crud_` (insert-only tables pass finished JSON).
//!
//! Both share one transaction id per local transaction through the connection state: the first
//! vtab that SQLite begins a transaction on allocates it from `ps_tx`.

use std::borrow::Cow;
use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::vtab::{
    sqlite3_vtab, Context, CreateVTab, Filters, IndexInfo, Inserts, TransactionVTab, UpdateVTab, Updates, VTab,
    VTabConnection, VTabCursor, VTabKind,
};
use rusqlite::{ffi, Connection, Statement};

use crate::error::{PsError, PsResult};
use crate::function::panic_message;
use crate::schema::model::flags;
use crate::sql;
use crate::state::{lock, CrudTransaction, DatabaseState};
use crate::sync::checkpoint_requests;

/// Module data: the connection state (rusqlite wants it `Send + Sync`, which `Arc` is).
pub type Aux = Arc<DatabaseState>;

/// Which of the two tables an instance serves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Simple,
    Manual,
}

#[repr(C)]
pub struct CrudTable<K> {
    base: sqlite3_vtab,
    state: Arc<DatabaseState>,
    /// The two statements of every simple write, prepared at the first one and kept, so that a
    /// write costs no statement-cache lookup. They borrow `db`, and `Drop` finalises them first.
    writes: Option<SimpleWrites>,
    /// Non-owning handle (its statement cache keeps the colder statements prepared), on the heap
    /// so that `writes` can borrow it for the table's lifetime; freed by `Drop` when SQLite
    /// disconnects the table, which it does before it closes the connection.
    db: NonNull<Connection>,
    /// Set once this transaction's first simple write closed the local write gate.
    gate_closed: bool,
    _kind: PhantomData<K>,
}

const INSERT_CRUD: &str = "INSERT INTO ps_crud(tx_id, data) VALUES (?, ?)";
const MARK_UPDATED: &str = "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES(?, ?)";

struct SimpleWrites {
    insert_crud: Statement<'static>,
    mark_updated: Statement<'static>,
}

impl SimpleWrites {
    fn prepare(db: &'static Connection) -> PsResult<SimpleWrites> {
        let prepare = |sql: &str| db.prepare(sql).map_err(|e| PsError::sqlite(Some(sql), e));
        Ok(SimpleWrites {
            insert_crud: prepare(INSERT_CRUD)?,
            mark_updated: prepare(MARK_UPDATED)?,
        })
    }
}

/// Runs a kept statement once. Its text bindings are cleared afterwards: they are copies, and a
/// large row's JSON should not stay in memory until the next write.
fn run_kept(statement: &mut Statement<'_>, sql: &str, params: impl rusqlite::Params) -> PsResult<()> {
    let result = statement.execute(params);
    statement.clear_bindings();
    result.map(|_| ()).map_err(|e| PsError::sqlite(Some(sql), e))
}

impl<K> Drop for CrudTable<K> {
    fn drop(&mut self) {
        // The statements borrow the connection handle: finalise them before freeing it.
        self.writes = None;
        // SAFETY: `db` comes from `Box::leak` in `connect`, and nothing borrows it any more.
        drop(unsafe { Box::from_raw(self.db.as_ptr()) });
    }
}

pub struct SimpleKind;
pub struct ManualKind;

pub trait KindMarker {
    const KIND: Kind;
    const SCHEMA: &'static CStr;
}

impl KindMarker for SimpleKind {
    const KIND: Kind = Kind::Simple;
    const SCHEMA: &'static CStr =
        c"CREATE TABLE powersync_crud(op TEXT, id TEXT, type TEXT, data TEXT, old_values TEXT, metadata TEXT, options INT HIDDEN);";
}

impl KindMarker for ManualKind {
    const KIND: Kind = Kind::Manual;
    const SCHEMA: &'static CStr = c"CREATE TABLE powersync_crud_(data TEXT, options INT HIDDEN);";
}

pub type SimpleCrud = CrudTable<SimpleKind>;
pub type ManualCrud = CrudTable<ManualKind>;

/// rusqlite builds version-1 modules, without the savepoint callbacks. The CRUD tables need
/// `xRollbackTo`: a rollback to a savepoint may undo the transaction id's `ps_tx` increment,
/// and only then must the next write check it again (instead of every write paying for it).
macro_rules! with_savepoint_callbacks {
    ($kind:ty) => {{
        // SAFETY: `Module` is `#[repr(transparent)]` over `sqlite3_module` (rusqlite pinned at
        // =0.40.0); only the version and the three savepoint callbacks change.
        let mut base: ffi::sqlite3_module = unsafe {
            std::mem::transmute(rusqlite::vtab::Module::<'static, CrudTable<$kind>>::update_module_with_tx())
        };
        base.iVersion = 2;
        base.xSavepoint = Some(savepoint_ok);
        base.xRelease = Some(savepoint_ok);
        base.xRollbackTo = Some(rolled_back_to::<$kind>);
        // SAFETY: as above, back to the same type.
        unsafe { std::mem::transmute::<ffi::sqlite3_module, rusqlite::vtab::Module<'static, CrudTable<$kind>>>(base) }
    }};
}

pub const SIMPLE_MODULE: rusqlite::vtab::Module<'static, SimpleCrud> = with_savepoint_callbacks!(SimpleKind);
pub const MANUAL_MODULE: rusqlite::vtab::Module<'static, ManualCrud> = with_savepoint_callbacks!(ManualKind);

/// `xSavepoint` / `xRelease`: nothing to do (SQLite only calls `xRollbackTo` on tables that
/// registered a savepoint level through `xSavepoint`, so it must exist).
unsafe extern "C" fn savepoint_ok(_vtab: *mut sqlite3_vtab, _savepoint: c_int) -> c_int {
    ffi::SQLITE_OK
}

/// `xRollbackTo`: marks the shared transaction id for re-checking.
unsafe extern "C" fn rolled_back_to<K: KindMarker>(vtab: *mut sqlite3_vtab, _savepoint: c_int) -> c_int {
    // SAFETY: SQLite passes the `sqlite3_vtab` that `connect` returned, which is the first field
    // of a live `CrudTable<K>` (`#[repr(C)]`) until `xDisconnect`.
    let table = unsafe { &*(vtab as *const CrudTable<K>) };
    // Setting a flag cannot panic except on a poisoned lock, which `lock` recovers from; the
    // guard keeps even that from unwinding into SQLite.
    let marked = catch_unwind(AssertUnwindSafe(|| {
        if let Some(tx) = lock(&table.state.crud_transaction).as_mut() {
            tx.rolled_back = true;
        }
    }));
    if marked.is_ok() {
        ffi::SQLITE_OK
    } else {
        ffi::SQLITE_INTERNAL
    }
}

/// `SQLITE_MISUSE` without a message: SQLite then reports "bad parameter or other API misuse".
pub(crate) fn misuse() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISUSE), None)
}

/// Converts our error for a vtab callback: the message goes to `zErrMsg` without prefix.
fn to_vtab_error(err: PsError) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(err.code()), Some(err.to_string()))
}

/// Runs `f`, turning errors and panics into vtab errors (a panic must not unwind into SQLite).
fn guarded<T>(f: impl FnOnce() -> PsResult<T>) -> rusqlite::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(to_vtab_error),
        Err(panic) => Err(to_vtab_error(PsError::internal(format!(
            "panic: {}",
            panic_message(&panic)
        )))),
    }
}

/// Text of a value the way `sqlite3_value_text` converts it; NULL gives `None`. A REAL is
/// rendered by SQLite itself (its `%!.15g` differs from Rust's formatting). Valid UTF-8 text is
/// borrowed: every local write passes through here, so no copy is made that is not needed.
fn text_of<'v>(db: &Connection, value: ValueRef<'v>) -> Option<Cow<'v, str>> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(Cow::Owned(i.to_string())),
        ValueRef::Real(f) => db
            .prepare_cached("SELECT CAST(?1 AS TEXT)")
            .and_then(|mut s| s.query_row([f], |r| r.get::<_, String>(0)))
            .ok()
            .map(Cow::Owned),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t)),
    }
}

/// Appends `text` as a JSON string, escaped exactly as `serde_json` does (the reference's
/// output): `"` and `\` with a backslash, the control characters below U+0020 as `\b \f \n
/// \r \t` or `\u00XX`, everything else as it is. Written in place, without a temporary string.
fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let short = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a character boundary.
        out.push_str(&text[start..i]);
        start = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&text[start..]);
    out.push('"');
}

impl<K: KindMarker> CrudTable<K> {
    /// The connection handle, for as long as the table is connected.
    fn db(&self) -> &'static Connection {
        // SAFETY: `db` points at the handle `connect` put on the heap; it is freed only when the
        // table is dropped, after `writes`, the one holder of the `'static` borrow past a call.
        unsafe { self.db.as_ref() }
    }

    /// The address identifies this instance as the owner of the shared transaction id.
    fn token(&self) -> usize {
        self as *const Self as usize
    }

    fn begin_transaction(&mut self) -> PsResult<()> {
        self.gate_closed = false;
        if lock(&self.state.crud_transaction).is_some() {
            return Ok(());
        }
        // Not under the lock: the UPDATE could fire app triggers that write through a CRUD vtab.
        let sql = "UPDATE ps_tx SET next_tx = next_tx + 1 WHERE id = 1 RETURNING next_tx";
        let next: i64 = self
            .db()
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([], |row| row.get(0)))
            .map_err(|e| PsError::sqlite(Some(sql), e))?;
        let mut current = lock(&self.state.crud_transaction);
        if current.is_none() {
            *current = Some(CrudTransaction {
                tx_id: next - 1,
                owner: self.token(),
                rolled_back: false,
            });
        }
        Ok(())
    }

    fn end_transaction(&mut self) {
        self.gate_closed = false;
        let mut current = lock(&self.state.crud_transaction);
        if current.is_some_and(|tx| tx.owner == self.token()) {
            *current = None;
        }
    }

    /// The transaction id for a write. `ROLLBACK TO` a savepoint taken before the id was
    /// allocated undoes its `ps_tx` increment, so after a rollback (`rolled_back`, set by
    /// `xRollbackTo`) the increment is re-applied when it is gone: otherwise the next transaction
    /// would get the same id and the upload queue would merge two transactions.
    fn current_tx_id(&self) -> PsResult<i64> {
        let (tx_id, rolled_back) = {
            let mut current = lock(&self.state.crud_transaction);
            let tx = current
                .as_mut()
                .ok_or_else(|| PsError::internal("write to a CRUD table outside a transaction"))?;
            (tx.tx_id, std::mem::take(&mut tx.rolled_back))
        };
        if rolled_back {
            sql::execute(
                self.db(),
                "UPDATE ps_tx SET next_tx = ?1 + 1 WHERE id = 1 AND next_tx <= ?1",
                [tx_id],
            )?;
        }
        Ok(tx_id)
    }

    fn insert_simple(&mut self, args: &Inserts<'_>) -> PsResult<()> {
        // Columns: op, id, type, data, old_values, metadata, options (after the two rowids).
        let mut values = [ValueRef::Null; 7];
        for (slot, arg) in values.iter_mut().zip(args.iter().skip(2)) {
            *slot = arg;
        }
        let value = |i: usize| values[i];
        let options = match value(6) {
            ValueRef::Integer(i) => i,
            ValueRef::Null => 0,
            other => text_of(self.db(), other)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
        };
        let op = text_of(self.db(), value(0));
        let data = match value(3) {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t)),
            _ => None,
        };
        if options & flags::IGNORE_EMPTY_UPDATE != 0 && op.as_deref() == Some("PATCH") && data.as_deref() == Some("{}")
        {
            return Ok(());
        }
        let id = text_of(self.db(), value(1));
        let row_type = text_of(self.db(), value(2));

        let mut json = String::with_capacity(64 + data.as_ref().map_or(0, |d| d.len()));
        json.push_str("{\"op\":");
        push_json_string(&mut json, op.as_deref().unwrap_or(""));
        json.push_str(",\"id\":");
        push_json_string(&mut json, id.as_deref().unwrap_or(""));
        json.push_str(",\"type\":");
        push_json_string(&mut json, row_type.as_deref().unwrap_or(""));
        if let Some(data) = &data {
            // Embedded raw, as the reference does: the triggers pass JSON made by SQLite.
            json.push_str(",\"data\":");
            json.push_str(data);
        }
        if let ValueRef::Text(old) = value(4) {
            json.push_str(",\"old\":");
            json.push_str(&String::from_utf8_lossy(old));
        }
        if let ValueRef::Text(metadata) = value(5) {
            json.push_str(",\"metadata\":");
            push_json_string(&mut json, &String::from_utf8_lossy(metadata));
        }
        json.push('}');

        let tx_id = self.current_tx_id()?;
        // Taken out while they run: an app trigger on `ps_crud` may write through a view, which
        // re-enters this table, and a running statement must not be stepped again (the inner
        // write prepares its own pair).
        let mut writes = match self.writes.take() {
            Some(writes) => writes,
            None => SimpleWrites::prepare(self.db())?,
        };
        let result = run_kept(&mut writes.insert_crud, INSERT_CRUD, rusqlite::params![tx_id, json])
            .and_then(|()| run_kept(&mut writes.mark_updated, MARK_UPDATED, rusqlite::params![row_type, id]));
        self.writes = Some(writes);
        result?;
        if !self.gate_closed {
            // A local write means downloaded data may only be applied once the service has
            // acknowledged it (the sync client's local write gate, docs/protocol.md, "Publishing").
            checkpoint_requests::close_write_gate(self.db())?;
            self.gate_closed = true;
        }
        Ok(())
    }

    fn insert_manual(&mut self, args: &Inserts<'_>) -> PsResult<()> {
        let values: Vec<ValueRef<'_>> = args.iter().skip(2).collect();
        let data = values.first().and_then(|v| text_of(self.db(), *v));
        let options = match values.get(1) {
            Some(ValueRef::Integer(i)) => *i,
            Some(other) => text_of(self.db(), *other)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
            None => 0,
        };
        let tx_id = self.current_tx_id()?;
        let sql = "WITH insertion (tx_id, data) AS (VALUES (?1, ?2)) INSERT INTO ps_crud(tx_id, data) SELECT * FROM insertion WHERE (NOT (?3 & 16)) OR data->>'op' != 'PATCH' OR data->'data' != '{}'";
        sql::execute(self.db(), sql, rusqlite::params![tx_id, data, options])?;
        Ok(())
    }
}

// SAFETY: `CrudTable` is `#[repr(C)]` with `sqlite3_vtab` first, as rusqlite requires; every
// callback that does work runs it through `guarded`, so no panic unwinds into SQLite.
unsafe impl<'vtab, K: KindMarker + 'vtab> VTab<'vtab> for CrudTable<K> {
    type Aux = Aux;
    type Cursor = NoCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&Aux>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, Self)> {
        let state = aux.cloned().ok_or_else(misuse)?;
        // SAFETY: SQLite hands us its live connection; the handle never closes it.
        let handle = unsafe { db.handle() };
        guarded(|| {
            // SAFETY: as above; the table is disconnected before the connection closes.
            let conn = unsafe { crate::function::connection_for(handle) };
            Ok(CrudTable {
                base: sqlite3_vtab::default(),
                state,
                writes: None,
                db: NonNull::from(Box::leak(Box::new(conn))),
                gate_closed: false,
                _kind: PhantomData,
            })
        })
        .map(|table| (Cow::Borrowed(K::SCHEMA), table))
    }

    fn best_index(&self, _info: &mut IndexInfo) -> rusqlite::Result<bool> {
        Err(misuse())
    }

    fn open(&'vtab mut self) -> rusqlite::Result<NoCursor<'vtab>> {
        Err(misuse())
    }
}

impl<'vtab, K: KindMarker + 'vtab> CreateVTab<'vtab> for CrudTable<K> {
    const KIND: VTabKind = VTabKind::EponymousOnly;
}

impl<'vtab, K: KindMarker + 'vtab> UpdateVTab<'vtab> for CrudTable<K> {
    fn delete(&mut self, _arg: ValueRef<'_>) -> rusqlite::Result<()> {
        Err(misuse())
    }

    fn insert(&mut self, args: &Inserts<'_>) -> rusqlite::Result<i64> {
        if self.state.in_sync_operation() {
            return Ok(0);
        }
        guarded(|| match K::KIND {
            Kind::Simple => self.insert_simple(args),
            Kind::Manual => self.insert_manual(args),
        })?;
        Ok(0)
    }

    fn update(&mut self, _args: &Updates<'_>) -> rusqlite::Result<()> {
        Err(misuse())
    }
}

impl<'vtab, K: KindMarker + 'vtab> TransactionVTab<'vtab> for CrudTable<K> {
    fn begin(&mut self) -> rusqlite::Result<()> {
        guarded(|| self.begin_transaction())
    }

    fn commit(&mut self) -> rusqlite::Result<()> {
        guarded(|| {
            self.end_transaction();
            Ok(())
        })
    }

    fn rollback(&mut self) -> rusqlite::Result<()> {
        guarded(|| {
            self.end_transaction();
            Ok(())
        })
    }
}

/// The CRUD tables cannot be read: SQLite never gets a cursor (`xBestIndex` refuses).
#[repr(C)]
pub struct NoCursor<'vtab> {
    base: rusqlite::vtab::sqlite3_vtab_cursor,
    _table: PhantomData<&'vtab ()>,
}

// SAFETY: `NoCursor` is `#[repr(C)]` with `sqlite3_vtab_cursor` first, as rusqlite requires (it
// is never created: `open` refuses).
unsafe impl VTabCursor for NoCursor<'_> {
    fn filter(&mut self, _idx_num: c_int, _idx_str: Option<&str>, _args: &Filters<'_>) -> rusqlite::Result<()> {
        Err(misuse())
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        Err(misuse())
    }

    fn eof(&self) -> bool {
        true
    }

    fn column(&self, _ctx: &mut Context, _i: c_int) -> rusqlite::Result<()> {
        Err(misuse())
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        Err(misuse())
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::open;

    /// A database with the internal tables (no schema).
    fn initialized() -> rusqlite::Connection {
        let db = open();
        db.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;").unwrap();
        db
    }

    /// The transaction id of every queued write, in queue order.
    fn tx_ids(db: &rusqlite::Connection) -> Vec<i64> {
        crud_rows(db).into_iter().map(|(_, tx, _)| tx).collect()
    }

    fn crud_rows(db: &rusqlite::Connection) -> Vec<(i64, i64, String)> {
        let mut s = db.prepare("SELECT id, tx_id, data FROM ps_crud ORDER BY id").unwrap();
        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let mut samples: Vec<String> = (0u32..0x80).map(|c| char::from_u32(c).unwrap().to_string()).collect();
        samples.extend(
            [
                "",
                "plain",
                "a\"b\\c",
                "line\nbreak\ttab\u{1}\u{1f}\u{7f}",
                "é ü 漢字 😀",
                "\u{2028}\u{2029}",
                "mixed \u{8} ok \u{c} \"end\"",
            ]
            .map(String::from),
        );
        for text in &samples {
            let mut ours = String::from("x");
            super::push_json_string(&mut ours, text);
            assert_eq!(ours, format!("x{}", serde_json::to_string(text).unwrap()), "{text:?}");
        }
    }

    #[test]
    fn observed_vtab_sequence() {
        let db = initialized();
        for sql in [
            "insert into powersync_crud(op,id,type,data) values ('PUT','r1','users','{\"a\":1}')",
            "insert into powersync_crud(op,id,type,data,old_values,metadata) values ('PATCH','r1','users','{\"a\":2}', '{\"a\":1}', 'meta')",
            "insert into powersync_crud(op,id,type,metadata) values ('DELETE','r1','users', 42)",
            "insert into powersync_crud(op,id,type,data) values ('PATCH','r1','users', 5)",
            "insert into powersync_crud(op,id,type,data,options) values ('PATCH','r1','users','{}', 16)",
            "insert into powersync_crud(op,id,type) values ('WHATEVER',NULL,'users')",
            "insert into powersync_crud_(data, options) values ('{\"op\":\"PATCH\",\"type\":\"x\",\"id\":\"1\",\"data\":{}}', 16)",
            "insert into powersync_crud_(data) values ('arbitrary text')",
        ] {
            db.execute(sql, []).unwrap();
        }
        db.execute_batch("BEGIN; insert into powersync_crud(op,id,type) values ('DELETE','a','t'); insert into powersync_crud_(data) values ('{\"op\":\"DELETE\",\"id\":\"b\",\"type\":\"t\"}'); COMMIT;").unwrap();
        assert_eq!(
            crud_rows(&db),
            vec![
                (
                    1,
                    1,
                    r#"{"op":"PUT","id":"r1","type":"users","data":{"a":1}}"#.to_owned()
                ),
                (
                    2,
                    2,
                    r#"{"op":"PATCH","id":"r1","type":"users","data":{"a":2},"old":{"a":1},"metadata":"meta"}"#
                        .to_owned()
                ),
                (3, 3, r#"{"op":"DELETE","id":"r1","type":"users"}"#.to_owned()),
                (4, 4, r#"{"op":"PATCH","id":"r1","type":"users"}"#.to_owned()),
                (5, 6, r#"{"op":"WHATEVER","id":"","type":"users"}"#.to_owned()),
                (6, 8, "arbitrary text".to_owned()),
                (7, 9, r#"{"op":"DELETE","id":"a","type":"t"}"#.to_owned()),
                (8, 9, r#"{"op":"DELETE","id":"b","type":"t"}"#.to_owned()),
            ]
        );
        let next_tx: i64 = db.query_row("SELECT next_tx FROM ps_tx", [], |r| r.get(0)).unwrap();
        assert_eq!(next_tx, 10);
    }

    #[test]
    fn rolled_back_transaction_reuses_its_id() {
        let db = initialized();
        db.execute_batch("BEGIN; insert into powersync_crud(op,id,type) values ('DELETE','a','t'); ROLLBACK;")
            .unwrap();
        db.execute("insert into powersync_crud(op,id,type) values ('DELETE','b','t')", [])
            .unwrap();
        assert_eq!(
            crud_rows(&db),
            vec![(1, 1, r#"{"op":"DELETE","id":"b","type":"t"}"#.to_owned())]
        );
    }

    #[test]
    fn rollback_to_a_savepoint_keeps_the_next_transaction_apart() {
        let db = initialized();
        // The id is allocated inside the savepoint; rolling back to it undoes the increment.
        db.execute_batch(
            "BEGIN; SAVEPOINT s; insert into powersync_crud(op,id,type) values ('DELETE','a','t'); ROLLBACK TO s; \
             insert into powersync_crud(op,id,type) values ('DELETE','b','t'); COMMIT;",
        )
        .unwrap();
        db.execute("insert into powersync_crud(op,id,type) values ('DELETE','c','t')", [])
            .unwrap();
        assert_eq!(tx_ids(&db), [1, 2]);
    }

    #[test]
    fn failed_statement_keeps_the_next_transaction_apart() {
        let db = initialized();
        db.execute_batch(
            "CREATE TRIGGER refuse AFTER INSERT ON ps_crud WHEN new.data LIKE '%\"bad\"%' \
             BEGIN SELECT raise(ABORT, 'refused'); END;",
        )
        .unwrap();
        db.execute_batch("BEGIN").unwrap();
        // The statement's first write allocates the id, then fails and is rolled back with its
        // row (SQLite calls `xRollbackTo` for it); the id the transaction goes on with must
        // still be one the next transaction does not get.
        db.execute("insert into powersync_crud(op,id,type) values ('DELETE','bad','t')", [])
            .unwrap_err();
        db.execute("insert into powersync_crud(op,id,type) values ('DELETE','a','t')", [])
            .unwrap();
        db.execute_batch("COMMIT").unwrap();
        db.execute("insert into powersync_crud(op,id,type) values ('DELETE','b','t')", [])
            .unwrap();
        assert_eq!(tx_ids(&db), [1, 2]);
    }

    #[test]
    fn a_trigger_on_ps_crud_that_writes_through_a_view_reenters_the_table() {
        let db = crate::sync::test_support::open_with(
            r#"{"tables":[{"name":"a","columns":[{"name":"v","type":"text"}]},{"name":"b","columns":[{"name":"v","type":"text"}]}]}"#,
        );
        // The inner write runs while the outer `ps_crud` insert is still executing.
        db.execute_batch(
            "CREATE TRIGGER echo AFTER INSERT ON ps_crud WHEN new.data->>'type' = 'a' \
             BEGIN INSERT INTO b(id, v) VALUES ('echo-' || (new.data->>'id'), 'e'); END;",
        )
        .unwrap();
        for round in 0..3 {
            db.execute("INSERT INTO a(id, v) VALUES (?, 'x')", [format!("r{round}")])
                .unwrap();
        }
        let writes: Vec<(i64, String, String)> = crud_rows(&db)
            .into_iter()
            .map(|(_, tx, data)| {
                let data: serde_json::Value = serde_json::from_str(&data).unwrap();
                (
                    tx,
                    data["type"].as_str().unwrap().to_owned(),
                    data["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(i64, String, String)> = (0..3)
            .flat_map(|round| {
                [
                    (round + 1, "a".to_owned(), format!("r{round}")),
                    (round + 1, "b".to_owned(), format!("echo-r{round}")),
                ]
            })
            .collect();
        assert_eq!(writes, expected);
        let updated: i64 = db
            .query_row("SELECT count(*) FROM ps_updated_rows", [], |r| r.get(0))
            .unwrap();
        assert_eq!(updated, 6);
    }

    #[test]
    fn reads_and_updates_are_refused() {
        let db = open();
        let err = db
            .query_row("SELECT * FROM powersync_crud", [], |_| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("bad parameter or other API misuse"), "{err}");
        let err = db
            .execute("insert into powersync_internal_close values ('x')", [])
            .unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::ApiMisuse));
    }
}
