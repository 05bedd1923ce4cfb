//! FFI glue for scalar SQL functions: registration, argument access, results and errors.
//!
//! Written against the raw C API rather than rusqlite's `create_scalar_function` because the
//! spec needs control that wrapper does not give: the error text must be set *before* the error
//! code (rusqlite sets it after, which resets the code to SQLITE_ERROR), some functions need
//! `SQLITE_DIRECTONLY` / `SQLITE_RESULT_SUBTYPE`, and results set a subtype in a precise order.

use std::borrow::Cow;
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

    /// Argument `i`, or `None` past the end.
    fn get(&self, i: usize) -> Option<*mut ffi::sqlite3_value> {
        // SAFETY: SQLite passes `argc` valid value pointers, and `i` is checked against it.
        (i < self.argc).then(|| unsafe { *self.argv.add(i) })
    }

    /// Argument `i`; past the end is a bug in the caller (a panic, caught at the FFI edge).
    fn raw(&self, i: usize) -> *mut ffi::sqlite3_value {
        self.get(i).expect("argument index out of range")
    }

    /// `SQLITE_INTEGER`, `SQLITE_FLOAT`, `SQLITE_TEXT`, `SQLITE_BLOB` or `SQLITE_NULL`.
    pub fn value_type(&self, i: usize) -> c_int {
        // SAFETY: `raw` returns one of the call's live values.
        unsafe { ffi::sqlite3_value_type(self.raw(i)) }
    }

    /// The argument converted to text the way SQLite converts it (NULL gives `None`); invalid
    /// UTF-8 is replaced, as `String::from_utf8_lossy` does.
    pub fn text(&self, i: usize) -> Option<String> {
        self.text_borrowed(i).map(Cow::into_owned)
    }

    /// Like `text`, borrowing SQLite's bytes when they are valid UTF-8 (the usual case): hot
    /// functions avoid copying their argument.
    pub fn text_borrowed(&self, i: usize) -> Option<Cow<'_, str>> {
        let v = self.raw(i);
        // SAFETY: `v` is a live value of this call; SQLite's text pointer stays valid until the
        // value is converted again or the call returns. `&self` lives no longer than the call,
        // and no other conversion of argument `i` can happen while the borrow is held.
        unsafe {
            let ptr = ffi::sqlite3_value_text(v);
            if ptr.is_null() {
                return None;
            }
            let len = ffi::sqlite3_value_bytes(v) as usize;
            let bytes = std::slice::from_raw_parts(ptr, len);
            // `from_utf8` validates faster than the lossy conversion's chunk scan.
            Some(std::str::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Cow::Borrowed))
        }
    }

    /// The argument as text only if it is stored as TEXT (borrowed, as `text_borrowed`).
    pub fn text_if_text(&self, i: usize) -> Option<Cow<'_, str>> {
        if self.value_type(i) == ffi::SQLITE_TEXT {
            self.text_borrowed(i)
        } else {
            None
        }
    }

    /// The argument's bytes as a BLOB (other types are converted the way SQLite converts them),
    /// borrowed for the duration of the call.
    pub fn blob_borrowed(&self, i: usize) -> &[u8] {
        let v = self.raw(i);
        // SAFETY: as for `text_borrowed`: SQLite's buffer for a live value of this call, valid
        // until the value is converted again or the call returns; `&self` lives no longer.
        unsafe {
            let ptr = ffi::sqlite3_value_blob(v);
            let len = ffi::sqlite3_value_bytes(v) as usize;
            if ptr.is_null() || len == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(ptr.cast::<u8>(), len)
            }
        }
    }

    pub fn int64(&self, i: usize) -> i64 {
        // SAFETY: `raw` returns one of the call's live values.
        unsafe { ffi::sqlite3_value_int64(self.raw(i)) }
    }

    /// `sqlite3_value_int` semantics (32-bit; NULL and non-numeric text give 0).
    pub fn int(&self, i: usize) -> i32 {
        // SAFETY: `raw` returns one of the call's live values.
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
    /// Argument `i` unchanged, with its subtype cleared (an index past the arguments is
    /// reported as an internal error, never read).
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
        // SAFETY: `db` is the live connection SQLite is calling us on.
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
    // SAFETY: guaranteed by the caller; `from_handle` does not take ownership and never closes
    // the connection.
    unsafe { Connection::from_handle(db) }.expect("from_handle cannot fail")
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
    // SAFETY: `db` is open (guaranteed by the caller); `name` outlives the call (SQLite copies
    // it); `data` is released by `destroy`, which SQLite also calls when registration fails.
    let rc = unsafe {
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
    // SAFETY: `data` is the box `register` leaked; SQLite calls this exactly once.
    drop(unsafe { Box::from_raw(data.cast::<Registered>()) });
}

unsafe extern "C" fn invoke(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    // SAFETY: the user data is the `Registered` given to `sqlite3_create_function_v2`, alive
    // until `destroy`, which SQLite cannot run during a call.
    let registered = unsafe { &*(ffi::sqlite3_user_data(ctx) as *const Registered) };
    let args = Args {
        argv,
        argc: argc.max(0) as usize,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let call = Call {
            // SAFETY: `ctx` is the context of this running call.
            db: unsafe { ffi::sqlite3_context_db_handle(ctx) },
            args: Args { argv, argc: args.argc },
            state: &registered.state,
        };
        if registered.def.needs_transaction {
            call.require_transaction()?;
        }
        (registered.def.func)(&call)
    }));
    let err = match outcome {
        // SAFETY: `ctx` is this call's context and `args` its arguments.
        Ok(Ok(output)) => match unsafe { set_output(ctx, &args, output) } {
            Ok(()) => return,
            Err(err) => err,
        },
        Ok(Err(err)) => err,
        Err(panic) => PsError::internal(format!("panic: {}", panic_message(&panic))),
    };
    // SAFETY: `ctx` is this call's context.
    unsafe { set_error(ctx, registered.def.name, &err) }
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

/// # Safety
/// `ctx` must be the context of a running function call.
unsafe fn set_text(ctx: *mut ffi::sqlite3_context, text: &str) {
    // SAFETY: SQLITE_TRANSIENT makes SQLite copy the bytes before this returns.
    unsafe {
        ffi::sqlite3_result_text64(
            ctx,
            text.as_ptr().cast(),
            text.len() as u64,
            ffi::SQLITE_TRANSIENT(),
            ffi::SQLITE_UTF8 as u8,
        )
    };
}

/// # Safety
/// `ctx` must be the context of the running call whose arguments are `args`.
unsafe fn set_output(ctx: *mut ffi::sqlite3_context, args: &Args, output: Output) -> PsResult<()> {
    if let Output::ArgumentWithoutSubtype(i) = output {
        let value = args
            .get(i)
            .ok_or_else(|| PsError::internal("result refers to a missing argument"))?;
        // SAFETY: `ctx` is the running call's context and `value` one of its live arguments.
        unsafe {
            ffi::sqlite3_result_value(ctx, value);
            ffi::sqlite3_result_subtype(ctx, 0);
        }
        return Ok(());
    }
    // SAFETY: `ctx` is the running call's context (guaranteed by the caller).
    unsafe {
        match output {
            Output::Null => ffi::sqlite3_result_null(ctx),
            Output::Text(text) => set_text(ctx, &text),
            Output::Json(text) => {
                set_text(ctx, &text);
                ffi::sqlite3_result_subtype(ctx, JSON_SUBTYPE);
            }
            Output::Int(value) => ffi::sqlite3_result_int64(ctx, value),
            Output::ArgumentWithoutSubtype(_) => {} // handled above
        }
    }
    Ok(())
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
    // SAFETY: `ctx` is a running call's context (guaranteed by the caller); SQLite copies the
    // message, whose exact length is passed.
    unsafe {
        ffi::sqlite3_result_error(ctx, message.as_ptr().cast(), message.len() as c_int);
        ffi::sqlite3_result_error_code(ctx, err.code());
    }
}
