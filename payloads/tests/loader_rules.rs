//! The build-side copy of the loader's rules (`link::verify`) against
//! every malformed test payload of mini-xen (`xen_bad_*`, built by `make
//! tests`): each is refused by `verify` too, unless it is listed below as
//! one only the running hypervisor can judge. A new `xen_bad_*` payload,
//! or a rule `verify` learns, fails this test until the list says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use payloads::driver::link;

/// Refused by the loader only, and why `verify` cannot tell.
const LOADER_ONLY: &[(&str, &str)] = &[
    ("xen_bad_wrong_depends", "the running hypervisor's build-id"),
    (
        "xen_bad_short_func",
        "the size and first bytes (ENDBR) of the hypervisor's function",
    ),
    (
        "xen_bad_unpatchable",
        "the hypervisor's .text.unpatchable range",
    ),
    (
        "xen_bad_window_now",
        "the hypervisor's .text.unpatchable range (livepatch-build checks it against XEN-SYMS)",
    ),
    (
        "xen_bad_dup_func",
        "old_addr as resolved against the hypervisor's symbols",
    ),
    ("xen_bad_func_offset", "the hypervisor's function starts"),
    (
        "xen_bad_new_addr",
        "the payload's text as laid out and relocated by the loader",
    ),
    (
        "xen_bad_self_jump",
        "the payload's text as laid out and relocated by the loader",
    ),
];

fn payload_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("build/test")
}

fn payloads(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(payload_dir())
        .expect("run `make build` (mini-xen's `make tests`)")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".livepatch")?
                .to_string();
            name.starts_with(prefix).then(|| {
                let bytes = std::fs::read(&p).unwrap();
                (name, bytes)
            })
        })
        .collect();
    v.sort();
    v
}

#[test]
fn verify_refuses_every_malformed_test_payload_it_can_judge() {
    let bad = payloads("xen_bad_");
    assert!(bad.len() >= 14, "only {} xen_bad_* payloads", bad.len());
    for (name, bytes) in &bad {
        let r = link::verify(bytes, Path::new(name));
        match LOADER_ONLY.iter().find(|(n, _)| n == name) {
            Some((_, why)) => assert!(
                r.is_ok(),
                "{name}: verify now refuses it ({:?}); drop it from LOADER_ONLY ({why})",
                r.err()
            ),
            None => assert!(r.is_err(), "{name}: the loader refuses it, verify does not"),
        }
    }
    for (n, _) in LOADER_ONLY {
        assert!(
            bad.iter().any(|(b, _)| b == n),
            "{n} is listed but not built"
        );
    }
}

#[test]
fn verify_accepts_every_well_formed_test_payload() {
    let good: Vec<_> = payloads("xen_")
        .into_iter()
        .filter(|(n, _)| !n.starts_with("xen_bad_"))
        .collect();
    assert!(good.len() >= 8, "only {} payloads", good.len());
    for (name, bytes) in &good {
        let r = link::verify(bytes, Path::new(name));
        assert!(r.is_ok(), "{name}: {:?}", r.err());
    }
}
