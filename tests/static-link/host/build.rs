//! Links target/release/libpowersync.a (built by `make static`; POWERSYNC_STATIC_DIR overrides
//! the directory).

use std::path::PathBuf;

fn main() {
    let dir = match std::env::var_os("POWERSYNC_STATIC_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("../../../target/release"),
    };
    let archive = dir.join("libpowersync.a");
    assert!(
        archive.exists(),
        "{} is missing: run `make static` first",
        archive.display()
    );
    println!("cargo:rerun-if-env-changed=POWERSYNC_STATIC_DIR");
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=powersync");
}
