//! Helpers shared by the end-to-end tests of the `testbed` side.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use quick_junit::Report;

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

pub fn testbed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(args)
        .output()
        .expect("testbed runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh directory for one test.
pub fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("suite-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write scenario");
    p.display().to_string()
}

pub fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).expect("junit written");
    Report::deserialize_from_str(&xml).expect("valid JUnit")
}

/// (name, passed) of every test case.
pub fn cases(r: &Report) -> Vec<(String, bool)> {
    r.test_suites
        .iter()
        .flat_map(|s| &s.test_cases)
        .map(|c| {
            (
                c.name.to_string(),
                matches!(c.status, quick_junit::TestCaseStatus::Success { .. }),
            )
        })
        .collect()
}
