//! Feed arbitrary bytes as an (original, patched) object pair — and as the
//! hypervisor symbol table — to the reader and the diff engine. Any input
//! must produce `Ok` or `Err`, never a panic.
//!
//! Run with `cargo fuzz run diff_pair` from `payloads/` (needs nightly);
//! seed the corpus with objects from `target/tmp/payloads-tests/*/`
//! (concatenate two objects behind a 4-byte little-endian length of the
//! first) to get past the header checks quickly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use payloads::symtab::XenSymbols;
use payloads::{diff_objects, DiffOptions};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let split = (u32::from_le_bytes(*head) as usize).min(rest.len());
    let (orig, patched) = rest.split_at(split);
    let xen = XenSymbols::parse(orig, "xen-syms").unwrap_or_default();
    let opts = DiffOptions::new("fuzz.o");
    if let Ok(out) = diff_objects(orig, patched, &xen, &opts) {
        let _ = out.report.to_text();
        let _ = out.report.to_json();
    }
    let _ = diff_objects(patched, patched, &xen, &opts);
});
