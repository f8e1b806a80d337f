//! The code-write hook covers the whole live-patch area, payload data
//! included: stores into a published payload's data (its hooks' state)
//! must keep the decode cache, while stores into code (the loader's
//! relocations, the patcher's jumps) still drop it.

mod common;

use std::path::PathBuf;

use common::{boot, console, ok};
use emulator::livepatch::{Action, Client};

const MS: u64 = 1_000_000;

fn payload(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test")
        .join(format!("{name}.livepatch"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

#[test]
fn payload_data_writes_keep_the_decode_cache() {
    let mut m = boot(1, 1);
    let r = m.run_for(5 * MS);
    ok(&m, r);
    let booted = m.code_writes();

    // Upload: the loader writes the payload's text and data before it is
    // published; every such store counts as a code write.
    let bytes = payload("xen_hooks");
    let rc = Client::new(&mut m).upload("xen_hooks", &bytes);
    assert_eq!(rc.unwrap_or_else(|e| panic!("{e}\n{}", console(&m))), 0);
    let uploaded = m.code_writes();
    assert!(uploaded.flushes > booted.flushes, "{uploaded:?}");

    // APPLY: the jump is code; each hook's counter in xen_hooks_counts[]
    // (.bss of the published payload) is data and keeps the cache.
    let r = Client::new(&mut m).action_and_settle("xen_hooks", Action::Apply, 30 * MS as u32, 0);
    let (rc, _) = r.unwrap_or_else(|e| panic!("{e}\n{}", console(&m)));
    assert_eq!(rc, 0, "{}", console(&m));
    let applied = m.code_writes();
    assert!(applied.flushes > uploaded.flushes, "the jump: {applied:?}");
    assert!(
        applied.data >= uploaded.data + 3,
        "pre-apply, apply and post-apply hooks count in payload data: {applied:?}"
    );
}
