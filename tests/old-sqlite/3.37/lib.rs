// Fetch-only crate; see Cargo.toml.
