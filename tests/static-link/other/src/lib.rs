//! The second Rust library of the static-link test: it uses std the way any Rust code does
//! (allocation, formatting, a hash map, a thread, a panic caught with catch_unwind), so that a
//! clash with the std inside libpowersync.a would show up here.

use std::collections::HashMap;
use std::ffi::{c_char, c_int};
use std::panic::catch_unwind;

/// Writes a formatted summary of `n` into `out` (NUL-terminated, at most `cap` bytes) and returns
/// its length, or -1 if the panic below was not caught as expected.
///
/// # Safety
/// `out` must point to `cap` writable bytes, `cap >= 1`.
#[no_mangle]
pub unsafe extern "C" fn other_rust_describe(n: u32, out: *mut c_char, cap: usize) -> c_int {
    let squares: HashMap<u32, u64> = (0..n).map(|i| (i, u64::from(i) * u64::from(i))).collect();
    let sum: u64 = std::thread::spawn(move || squares.values().sum()).join().unwrap_or(0);
    // A panic with a formatted message, caught in this library (its hook silenced meanwhile).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let caught = catch_unwind(|| -> u32 { panic!("other_rust: deliberate panic for n={n}") });
    std::panic::set_hook(hook);
    let message = match caught {
        Err(payload) => payload.downcast_ref::<String>().cloned().unwrap_or_default(),
        Ok(_) => return -1,
    };
    if !message.contains("deliberate panic") {
        return -1;
    }
    let text = format!("squares below {n} sum to {sum}; caught '{message}'");
    let len = text.len().min(cap - 1);
    // SAFETY: the caller guarantees `cap` writable bytes at `out`; `len < cap`.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out.cast::<u8>(), len);
        *out.add(len) = 0;
    }
    len as c_int
}
