//! Tells the integration tests where `make` puts the cdylib, so they load the real artifact.
//! The tests fail with a pointer to `make test` when it is missing (they never skip).
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("target"));
    let target = if target.is_relative() {
        manifest.join(target)
    } else {
        target
    };
    println!(
        "cargo:rustc-env=POWERSYNC_DEFAULT_EXTENSION={}",
        target.join("release").join("libpowersync.so").display()
    );
    println!(
        "cargo:rustc-env=POWERSYNC_VECTORS_DIR={}",
        manifest.join("test-vectors").display()
    );
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    println!("cargo:rerun-if-changed=build.rs");
}
