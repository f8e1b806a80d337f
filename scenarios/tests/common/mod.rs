//! Helpers shared by the end-to-end tests of the `testbed` side.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A test payload `make build` made.
pub fn payload_path(name: &str) -> PathBuf {
    root()
        .join("payloads/build/test")
        .join(format!("{name}.livepatch"))
}

/// Runs of 6 or more hex digits (addresses, build-ids) become `<hex>`, so
/// snapshots survive rebuilds; whitespace is kept.
pub fn redact_hex(line: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in line.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() >= 6 {
            out.push_str("<hex>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}
