//! A VFS for tests that wraps the default one and counts page writes by kind of file: temporary
//! files (statement journals, temp databases and journals, anything deleted on close) and the
//! database's own file and WAL. Counters are per thread (SQLite writes on the calling thread), so
//! tests running in parallel do not see each other's writes.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Mutex, OnceLock};

use rusqlite::ffi;

/// Page-sized writes since the last [`take`] on this thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Writes {
    /// Writes to temporary files (sub-journals, temp databases, temp journals).
    pub temp: u64,
    /// Pages written to the main database file or its WAL.
    pub data: u64,
}

thread_local! {
    static WRITES: Cell<Writes> = const { Cell::new(Writes { temp: 0, data: 0 }) };
}

/// The writes counted on this thread since the last call, resetting the counters.
pub fn take() -> Writes {
    WRITES.with(|w| w.replace(Writes::default()))
}

pub const NAME: &CStr = c"ps_counting_vfs";

const TEMP_FLAGS: c_int = ffi::SQLITE_OPEN_DELETEONCLOSE
    | ffi::SQLITE_OPEN_SUBJOURNAL
    | ffi::SQLITE_OPEN_TEMP_DB
    | ffi::SQLITE_OPEN_TEMP_JOURNAL
    | ffi::SQLITE_OPEN_TRANSIENT_DB;
const DATA_FLAGS: c_int = ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_WAL;

/// What a wrapped file counts as; stored after the default VFS's own file structure.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
enum Kind {
    Other,
    Temp,
    Data,
}

/// Stored after the default VFS's own file structure.
#[repr(C)]
struct Trailer {
    kind: Kind,
    /// The inner file's methods, whose `xWrite` ours calls.
    original: *const ffi::sqlite3_io_methods,
}

struct Registered {
    vfs: ffi::sqlite3_vfs,
    /// Per method table of the default VFS (its address), a copy with `xWrite` replaced.
    methods: Mutex<Vec<(usize, &'static ffi::sqlite3_io_methods)>>,
}

// SAFETY: the VFS structure is written once at registration and only read afterwards (by
// SQLite, on any thread); the method tables are behind a mutex.
unsafe impl Send for Registered {}
// SAFETY: as for `Send`.
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<&'static Registered> = OnceLock::new();

fn registered() -> &'static Registered {
    REGISTERED
        .get()
        .expect("x_open and x_write run only once the VFS is registered")
}

/// The default VFS, which ours wraps.
fn inner() -> *mut ffi::sqlite3_vfs {
    registered().vfs.pAppData.cast()
}

/// The default VFS's file structure comes first (the wrapped file *is* the inner file, so every
/// method except `xWrite` is the inner one); the trailer follows it.
///
/// # Safety
/// `file` must be a file structure SQLite allocated for our VFS (`szOsFile` bytes).
unsafe fn trailer(file: *mut ffi::sqlite3_file) -> *mut Trailer {
    // SAFETY: the default VFS is registered for the process's lifetime; our `szOsFile` is its
    // own plus the trailer, so the offset stays inside the allocation.
    unsafe {
        let size = (*inner()).szOsFile as usize;
        file.cast::<u8>().add(size).cast::<Trailer>()
    }
}

/// Our method table for files whose inner methods are `original`: a copy with `xWrite` counting.
fn wrapped_methods(original: *const ffi::sqlite3_io_methods) -> &'static ffi::sqlite3_io_methods {
    let mut tables = registered().methods.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, wrapped)) = tables.iter().find(|(from, _)| *from == original as usize) {
        return wrapped;
    }
    // SAFETY: `original` is the method table the default VFS just gave an open file; SQLite's
    // method tables are static.
    let mut methods = unsafe { *original };
    methods.xWrite = Some(x_write);
    let wrapped: &'static ffi::sqlite3_io_methods = Box::leak(Box::new(methods));
    tables.push((original as usize, wrapped));
    wrapped
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner = inner();
    // SAFETY: SQLite allocated our `szOsFile` bytes for `file`, room for the inner file first.
    let rc = unsafe { (*inner).xOpen.expect("the default VFS opens files")(inner, name, file, flags, out_flags) };
    let kind = if flags & TEMP_FLAGS != 0 {
        Kind::Temp
    } else if flags & DATA_FLAGS != 0 {
        Kind::Data
    } else {
        Kind::Other
    };
    // SAFETY: `file` was just initialised by the inner `xOpen`; a NULL method table means it is
    // not open (SQLite will not call its methods), and then it is left as it is.
    unsafe {
        let original = (*file).pMethods;
        if rc == ffi::SQLITE_OK && !original.is_null() {
            trailer(file).write_unaligned(Trailer { kind, original });
            (*file).pMethods = wrapped_methods(original);
        }
    }
    rc
}

unsafe extern "C" fn x_write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: only files opened by `x_open` get this method, with their trailer written; the
    // inner `xWrite` gets the same arguments SQLite passed.
    let (kind, rc) = unsafe {
        let Trailer { kind, original } = trailer(file).read_unaligned();
        (
            kind,
            (*original).xWrite.expect("files can be written")(file, data, amount, offset),
        )
    };
    // Whole pages only: WAL frame headers and journal headers are not pages.
    if amount >= 512 {
        WRITES.with(|w| {
            let mut writes = w.get();
            match kind {
                Kind::Temp => writes.temp += 1,
                Kind::Data => writes.data += 1,
                Kind::Other => {}
            }
            w.set(writes);
        });
    }
    rc
}

/// Registers the counting VFS (not as the default) once per process.
pub fn register() {
    REGISTERED.get_or_init(|| {
        // SAFETY: looking up the default VFS has no preconditions.
        let default = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
        assert!(!default.is_null());
        // SAFETY: the default VFS lives as long as the process; ours copies its entry points.
        let mut vfs = unsafe { *default };
        vfs.szOsFile += std::mem::size_of::<Trailer>() as c_int;
        vfs.zName = NAME.as_ptr();
        vfs.pAppData = default.cast();
        vfs.pNext = std::ptr::null_mut();
        vfs.xOpen = Some(x_open);
        let registered: &'static mut Registered = Box::leak(Box::new(Registered {
            vfs,
            methods: Mutex::new(Vec::new()),
        }));
        // SAFETY: the structure is leaked, so it outlives every connection that uses it.
        let rc = unsafe { ffi::sqlite3_vfs_register(&mut registered.vfs, 0) };
        assert_eq!(rc, ffi::SQLITE_OK);
        registered
    });
}
