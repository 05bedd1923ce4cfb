//! FFI glue for scalar SQL functions: registration, argument access, results and errors.
//!
//! Written against the raw C API rather than rusqlite's `create_scalar_function` because the
//! spec needs control that wrapper does not give: the error text must be set *before* the error
//! code (rusqlite sets it after, which resets the code to SQLITE_ERROR), some functions need
//! `SQLITE_DIRECTONLY` / `SQLITE_RESULT_SUBTYPE`, and results set a subtype in a precise order.

use std::ffi::{c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rusqlite::{ffi, Connection};

use crate::error::{ErrorKind, PsError, PsResult};
use crate::state::DatabaseState;

pub const DETERMINISTIC: c_int = ffi::SQLITE_DETERMINISTIC;
pub const DIRECTONLY: c_int = 0x0008_0000;
pub const SUBTYPE: c_int = 0x0010_0000;
/// Not known to SQLite versions before 3.45; older versions ignore unknown flag bits.
pub const RESULT_SUBTYPE: c_int = 0x0100_0000;

const JSON_SUBTYPE: u32 = b'J' as u32;

/// The arguments of one call.
pub struct Args {
    argv: *mut *mut ffi::sqlite3_value,
    argc: usize,
}

impl Args {
    pub fn len(&self) -> usize {
        self.argc
    }

    pub fn raw(&self, i: usize) -> *mut ffi::sqlite3_value {
        assert!(i < self.argc, "argument index out of range");
        // SAFETY: SQLite passes `argc` valid value pointers.
        unsafe { *self.argv.add(i) }
    }

    /// `SQLITE_INTEGER`, `SQLITE_FLOAT`, `SQLITE_TEXT`, `SQLITE_BLOB` or `SQLITE_NULL`.
    pub fn value_type(&self, i: usize) -> c_int {
        unsafe { ffi::sqlite3_value_type(self.raw(i)) }
    }

    /// The argument converted to text the way SQLite converts it (NULL gives `None`).
    pub fn text(&self, i: usize) -> Option<String> {
        let v = self.raw(i);
        unsafe {
            let ptr = ffi::sqlite3_value_text(v);
            if ptr.is_null() {
                return None;
            }
            let len = ffi::sqlite3_value_bytes(v) as usize;
            let bytes = std::slice::from_raw_parts(ptr, len);
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
    }

    /// The argument as text only if it is stored as TEXT.
    pub fn text_if_text(&self, i: usize) -> Option<String> {
        if self.value_type(i) == ffi::SQLITE_TEXT {
            self.text(i)
        } else {
            None
        }
    }

    /// The argument's bytes as a BLOB (other types are converted the way SQLite converts them).
    pub fn blob(&self, i: usize) -> Vec<u8> {
        let v = self.raw(i);
        unsafe {
            let ptr = ffi::sqlite3_value_blob(v);
            let len = ffi::sqlite3_value_bytes(v) as usize;
            if ptr.is_null() || len == 0 {
                Vec::new()
            } else {
                std::slice::from_raw_parts(ptr.cast::<u8>(), len).to_vec()
            }
        }
    }

    pub fn int64(&self, i: usize) -> i64 {
        unsafe { ffi::sqlite3_value_int64(self.raw(i)) }
    }

    /// `sqlite3_value_int` semantics (32-bit; NULL and non-numeric text give 0).
    pub fn int(&self, i: usize) -> i32 {
        unsafe { ffi::sqlite3_value_int(self.raw(i)) }
    }
}

/// What a function returns.
pub enum Output {
    Null,
    /// Plain TEXT without subtype.
    Text(String),
    /// TEXT marked with SQLite's JSON subtype (set after the text, so it sticks).
    Json(String),
    Int(i64),
    /// Argument `i` unchanged, with its subtype cleared.
    ArgumentWithoutSubtype(usize),
}

/// One invocation of a registered function.
pub struct Call<'a> {
    pub db: *mut ffi::sqlite3,
    pub args: Args,
    pub state: &'a Arc<DatabaseState>,
}

impl Call<'_> {
    /// A non-owning rusqlite handle on the calling connection.
    pub fn connection(&self) -> Connection {
        // SAFETY: `db` is the live connection SQLite is calling us on.
        unsafe { connection_for(self.db) }
    }

    /// Fails unless the connection is inside an explicit transaction.
    pub fn require_transaction(&self) -> PsResult<()> {
        if unsafe { ffi::sqlite3_get_autocommit(self.db) } != 0 {
            Err(PsError::new(ErrorKind::NotInTransaction))
        } else {
            Ok(())
        }
    }
}

/// A non-owning rusqlite `Connection` over a handle SQLite gave us.
///
/// # Safety
/// `db` must be a live connection, used on this thread only while the result exists.
pub unsafe fn connection_for(db: *mut ffi::sqlite3) -> Connection {
    // `from_handle` does not take ownership and never closes the connection.
    Connection::from_handle(db).expect("from_handle cannot fail")
}

pub type ScalarFn = fn(&Call) -> PsResult<Output>;

/// How a function is registered.
pub struct FunctionDef {
    pub name: &'static str,
    pub n_arg: c_int,
    pub flags: c_int,
    pub needs_transaction: bool,
    pub func: ScalarFn,
}

struct Registered {
    def: FunctionDef,
    state: Arc<DatabaseState>,
}

/// Registers `def` on `db`, sharing `state` with the function.
///
/// # Safety
/// `db` must be a valid, open connection handle.
pub unsafe fn register(db: *mut ffi::sqlite3, state: &Arc<DatabaseState>, def: FunctionDef) -> PsResult<()> {
    let name = CString::new(def.name).map_err(|e| PsError::new(ErrorKind::NulInString(e.to_string())))?;
    let flags = ffi::SQLITE_UTF8 | def.flags;
    let n_arg = def.n_arg;
    let data = Box::into_raw(Box::new(Registered {
        def,
        state: Arc::clone(state),
    }));
    // `data` is released by `destroy`, which SQLite also calls when registration fails.
    let rc = {
        ffi::sqlite3_create_function_v2(
            db,
            name.as_ptr(),
            n_arg,
            flags,
            data.cast::<c_void>(),
            Some(invoke),
            None,
            None,
            Some(destroy),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(PsError::new(ErrorKind::Sqlite {
            sql: None,
            code: rc,
            message: None,
        }))
    }
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    drop(Box::from_raw(data.cast::<Registered>()));
}

unsafe extern "C" fn invoke(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    let registered = &*(ffi::sqlite3_user_data(ctx) as *const Registered);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let call = Call {
            db: ffi::sqlite3_context_db_handle(ctx),
            args: Args {
                argv,
                argc: argc.max(0) as usize,
            },
            state: &registered.state,
        };
        if registered.def.needs_transaction {
            call.require_transaction()?;
        }
        (registered.def.func)(&call)
    }));
    match outcome {
        Ok(Ok(output)) => set_output(ctx, argv, output),
        Ok(Err(err)) => set_error(ctx, registered.def.name, &err),
        Err(panic) => {
            let err = PsError::internal(format!("panic: {}", panic_message(&panic)));
            set_error(ctx, registered.def.name, &err)
        }
    }
}

pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

unsafe fn set_text(ctx: *mut ffi::sqlite3_context, text: &str) {
    ffi::sqlite3_result_text64(
        ctx,
        text.as_ptr().cast(),
        text.len() as u64,
        ffi::SQLITE_TRANSIENT(),
        ffi::SQLITE_UTF8 as u8,
    );
}

unsafe fn set_output(ctx: *mut ffi::sqlite3_context, argv: *mut *mut ffi::sqlite3_value, output: Output) {
    match output {
        Output::Null => ffi::sqlite3_result_null(ctx),
        Output::Text(text) => set_text(ctx, &text),
        Output::Json(text) => {
            set_text(ctx, &text);
            ffi::sqlite3_result_subtype(ctx, JSON_SUBTYPE);
        }
        Output::Int(value) => ffi::sqlite3_result_int64(ctx, value),
        Output::ArgumentWithoutSubtype(i) => {
            ffi::sqlite3_result_value(ctx, *argv.add(i));
            ffi::sqlite3_result_subtype(ctx, 0);
        }
    }
}

/// Reports `err` as `<function>: <message>` with its result code. The text goes first: SQLite's
/// `sqlite3_result_error` resets the code to SQLITE_ERROR, `sqlite3_result_error_code` keeps the text.
///
/// # Safety
/// `ctx` must be the context of a running function call.
pub unsafe fn set_error(ctx: *mut ffi::sqlite3_context, function: &str, err: &PsError) {
    let message = if err.takes_function_prefix() {
        format!("{function}: {err}")
    } else {
        err.to_string()
    };
    let message = message.replace('\0', "\\0");
    ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), message.len() as c_int);
    ffi::sqlite3_result_error_code(ctx, err.code());
}
