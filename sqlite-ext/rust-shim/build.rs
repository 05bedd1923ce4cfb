//! Links libpowersync.a: from POWERSYNC_STATIC_DIR if set, else the repository's target/release
//! (built by `make static`).

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=POWERSYNC_STATIC_DIR");
    let dir = match std::env::var_os("POWERSYNC_STATIC_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
            .join("../../target/release"),
    };
    let archive = dir.join("libpowersync.a");
    if !archive.exists() {
        panic!(
            "{} is missing: build it with `make static` in the libpowersync repository, or set POWERSYNC_STATIC_DIR",
            archive.display()
        );
    }
    println!("cargo:rerun-if-changed={}", archive.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=static=powersync");
}
