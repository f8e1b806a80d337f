//! Malformed, mismatched and missing inputs: clear errors, exit code 1, no panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;

use common::{build, cdo_args, test_dir};

fn pair() -> &'static common::Pair {
    static PAIR: std::sync::OnceLock<common::Pair> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| {
        build(
            "malformed_base",
            "int mf(int x, int y) { return x * y + 3; }\nint keep(int x) { return x - 1; }\n",
            "int mf(int x, int y) { return x * y + 4; }\nint keep(int x) { return x - 1; }\n",
        )
    })
}

fn run_with(
    orig: &std::path::Path,
    patched: &std::path::Path,
    xen: &std::path::Path,
    out: &std::path::Path,
) -> common::Run {
    cdo_args(&[
        orig.as_os_str(),
        patched.as_os_str(),
        xen.as_os_str(),
        out.as_os_str(),
    ])
}

#[test]
fn not_elf() {
    let p = pair();
    let dir = test_dir("not_elf");
    let bogus = dir.join("bogus.o");
    std::fs::write(&bogus, b"this is not an object file\n").unwrap();
    let r = run_with(&bogus, &p.patched, &p.xen, &dir.join("out.o"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not an ELF file"), "{}", r.stderr);
    assert!(!dir.join("out.o").exists());
}

#[test]
fn truncated_elf() {
    let p = pair();
    let dir = test_dir("truncated");
    let data = std::fs::read(&p.patched).unwrap();
    for len in [10usize, 63, 64, 200, data.len() / 2, data.len() - 1] {
        let t = dir.join(format!("t{len}.o"));
        std::fs::write(&t, &data[..len]).unwrap();
        let r = run_with(&p.orig, &t, &p.xen, &dir.join("out.o"));
        assert_eq!(r.code, 1, "len {len}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("ERROR: orig.o:"), "{}", r.stderr);
        // The malformed file is the patched one: it is named, not orig.o.
        let named = format!("ERROR: orig.o: {}: ", t.display());
        assert!(
            r.stderr.contains(&named),
            "names the patched file: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("orig.o (patched)"), "{}", r.stderr);
        assert!(!r.stderr.contains("panicked"));
    }
}

#[test]
fn wrong_machine() {
    let p = pair();
    let dir = test_dir("wrong_machine");
    let mut data = std::fs::read(&p.orig).unwrap();
    data[18] = 3; // EM_386
    data[19] = 0;
    let t = dir.join("i386.o");
    std::fs::write(&t, &data).unwrap();
    let r = run_with(&t, &p.patched, &p.xen, &dir.join("out.o"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("machine 3"), "{}", r.stderr);
}

#[test]
fn missing_files() {
    let p = pair();
    let dir = test_dir("missing");
    let missing = dir.join("nope.o");
    let r = run_with(&p.orig, &missing, &p.xen, &dir.join("out.o"));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot read") && r.stderr.contains("nope.o"),
        "{}",
        r.stderr
    );
    let r = run_with(&p.orig, &p.patched, &missing, &dir.join("out.o"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nope.o"), "{}", r.stderr);
}

#[test]
fn bad_xen_syms() {
    let p = pair();
    let dir = test_dir("bad_xen");
    let bogus = dir.join("xen-syms");
    std::fs::write(&bogus, b"\x7fELF garbage").unwrap();
    let r = run_with(&p.orig, &p.patched, &bogus, &dir.join("out.o"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("xen-syms"), "{}", r.stderr);
}

#[test]
fn usage_errors_exit_1() {
    let r = cdo_args(&[OsStr::new("only-one-arg")]);
    assert_eq!(r.code, 1);
    let r = cdo_args(&[OsStr::new("--help")]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("XEN_SYMS"));
}

/// Deterministic corruption of valid objects: every result is Ok or Err,
/// never a panic.
#[test]
fn corrupted_objects_never_panic() {
    let p = pair();
    let orig = std::fs::read(&p.orig).unwrap();
    let patched = std::fs::read(&p.patched).unwrap();
    let xen =
        payloads::symtab::XenSymbols::parse(&std::fs::read(&p.xen).unwrap(), "xen-syms").unwrap();
    let opts = payloads::DiffOptions::new("lp.o");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..2000 {
        let mut data = patched.clone();
        let flips = 1 + (next() % 8) as usize;
        for _ in 0..flips {
            let at = (next() % data.len() as u64) as usize;
            data[at] = next() as u8;
        }
        if i % 5 == 0 {
            let cut = (next() % data.len() as u64) as usize;
            data.truncate(cut);
        }
        let _ = payloads::diff_objects(&orig, &data, &xen, &opts);
        let _ = payloads::diff_objects(&data, &patched, &xen, &opts);
        let _ = payloads::symtab::XenSymbols::parse(&data, "x");
    }
}
