//! Helpers for tests that load payloads into a booted machine: boot an
//! image, upload, apply, revert and replace through dom0's live-patch
//! client, with the console in every failure message.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use emulator::livepatch::{Action, Client, Status, STATE_APPLIED, STATE_CHECKED};
use emulator::{Config, Image, Machine};

pub const MS: u64 = 1_000_000;
pub const VCPUS: usize = 2;
pub const SEED: u64 = 7;

pub fn console(m: &Machine) -> String {
    String::from_utf8_lossy(m.console()).into_owned()
}

/// Load the hypervisor ELF at `path`.
pub fn load_image(path: &std::path::Path) -> Image {
    Image::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Boot `image` on [`VCPUS`] vCPUs and let it settle for 5 ms.
pub fn boot(image: &Image) -> Machine {
    let mut m = Machine::new(image.clone(), Config::new(VCPUS, SEED)).expect("machine");
    m.run_for(5 * MS)
        .unwrap_or_else(|e| panic!("{e}\n{}", console(&m)));
    m
}

/// Upload `payload` as `name`; returns the hypercall's result.
pub fn upload(m: &mut Machine, name: &str, payload: &[u8]) -> i64 {
    Client::new(m)
        .upload(name, payload)
        .unwrap_or_else(|e| panic!("upload of {name}: {e}\n{}", console(m)))
}

/// Issue `action` on `name` and let it settle: (hypercall rc, final status).
pub fn act(m: &mut Machine, name: &str, action: Action) -> (i64, Option<Result<Status, i64>>) {
    Client::new(m)
        .action_and_settle(name, action, 30 * MS as u32, 0)
        .unwrap_or_else(|e| panic!("{action:?} of {name}: {e}\n{}", console(m)))
}

/// `action` must succeed and leave `name` in `state`.
pub fn act_ok(m: &mut Machine, name: &str, action: Action, state: u32) {
    let (rc, st) = act(m, name, action);
    assert_eq!(rc, 0, "{action:?} of {name}:\n{}", console(m));
    assert_eq!(
        st,
        Some(Ok(Status { state, rc: 0 })),
        "{action:?} of {name}:\n{}",
        console(m)
    );
}

/// Upload and apply.
pub fn apply(m: &mut Machine, name: &str, payload: &[u8]) {
    let rc = upload(m, name, payload);
    assert_eq!(rc, 0, "upload of {name}:\n{}", console(m));
    act_ok(m, name, Action::Apply, STATE_APPLIED);
}

/// Revert to CHECKED.
pub fn revert(m: &mut Machine, name: &str) {
    act_ok(m, name, Action::Revert, STATE_CHECKED);
}
