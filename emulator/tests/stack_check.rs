//! Stack checks on mini-xen: a vCPU sleeping inside the hypervisor with
//! its stack kept (a paging request dom0 has not answered yet) holds
//! return addresses that no live-patch action may pull the code from
//! under. With `livepatch-stack-check=off` the hazard is real (the vCPU
//! wakes up in freed payload memory: the emulator's execution-after-
//! unload detector); with the default `on` the action is refused with
//! -EBUSY naming the vCPU and the function, and succeeds once the vCPU
//! has returned; `xen` refuses whenever anyone sleeps. Payloads that
//! link against another payload's exports pin it.

mod common;

use std::path::PathBuf;

use common::{boot_with, console};
use emulator::detect::Finding;
use emulator::hypercall::{nr, Guest, XENMEM_PAGING_REQUEST};
use emulator::livepatch::{Action, Client, STATE_APPLIED, STATE_CHECKED};
use emulator::{CrashReason, Machine, MachineError};

const MS: u64 = 1_000_000;
const EBUSY: i64 = -16;
const ENOENT: i64 = -2;
/// The domain that sleeps: its vCPU 0 serves its mailbox.
const SLEEPER: u32 = 1;

fn payload(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test")
        .join(format!("{name}.livepatch"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

fn booted(vcpus: usize, cmdline: &str) -> Machine {
    let mut m = boot_with(vcpus, 1, cmdline);
    m.run_for(5 * MS)
        .unwrap_or_else(|e| panic!("{e}\n{}", console(&m)));
    m
}

fn upload(m: &mut Machine, name: &str) {
    let bytes = payload(name);
    let rc = Client::new(m)
        .upload(name, &bytes)
        .unwrap_or_else(|e| panic!("{e}\n{}", console(m)));
    assert_eq!(rc, 0, "{name}: {}", console(m));
}

/// (rc, state) of an action once settled; UNLOAD gives (-ENOENT, 0).
fn settle(m: &mut Machine, name: &str, a: Action) -> (i64, u32) {
    let r = Client::new(m).action_and_settle(name, a, 0, 0);
    match r {
        Ok((0, Some(Ok(st)))) => (i64::from(st.rc), st.state),
        Ok((0, Some(Err(rc)))) => (rc, 0),
        Ok((rc, _)) => (rc, 0),
        Err(e) => panic!("{name} {a:?}: {e}\n{}", console(m)),
    }
}

/// Domain SLEEPER asks for a page and sleeps in the hypervisor.
fn sleep(m: &mut Machine) {
    Guest::new(m, SLEEPER)
        .post(nr::MEMORY_OP, [XENMEM_PAGING_REQUEST, 0, 0, 0, 0])
        .expect("post");
    m.run_for(2 * MS).expect("run");
    let r = Guest::new(m, SLEEPER).result().expect("mailbox");
    assert_eq!(r, None, "the request returned: {}", console(m));
}

/// dom0 answers `value`; the sleeper's result once it has returned.
fn wake(m: &mut Machine, value: u64) -> Result<i64, MachineError> {
    let rc = Guest::new(m, 0).paging_resume(SLEEPER, value)?;
    assert_eq!(rc, 0, "{}", console(m));
    for _ in 0..100 {
        m.run_for(MS / 10)?;
        if let Some(r) = Guest::new(m, SLEEPER).result()? {
            return Ok(r);
        }
    }
    panic!("the sleeper never returned\n{}", console(m));
}

/// Console lines that contain `what`.
fn lines_with(m: &Machine, what: &str) -> Vec<String> {
    console(m)
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_string)
        .collect()
}

#[test]
fn with_the_check_off_a_sleeper_wakes_up_in_an_unloaded_payload() {
    let mut m = booted(4, "livepatch-stack-check=off");
    upload(&mut m, "xen_paging_wait");
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Apply),
        (0, STATE_APPLIED)
    );
    // d1v0 now sleeps inside the payload's xen_paging_wait_new().
    sleep(&mut m);
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Revert),
        (0, STATE_CHECKED),
        "nothing checks the stacks"
    );
    assert_eq!(settle(&mut m, "xen_paging_wait", Action::Unload).0, ENOENT);
    match wake(&mut m, 41) {
        Err(MachineError::Crash(c)) => match &c.reason {
            CrashReason::Detected(Finding::ExecFreedPayload { payload, .. }) => {
                assert_eq!(payload, "xen_paging_wait");
                assert_eq!(c.vcpu, 1, "d1v0 runs on CPU 1: {c}");
            }
            other => panic!("{other:?}\n{c}"),
        },
        other => panic!("no detector fired: {other:?}\n{}", console(&m)),
    }
}

#[test]
fn with_the_check_on_revert_waits_until_the_sleeper_returned() {
    let mut m = booted(4, "");
    upload(&mut m, "xen_paging_wait");
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Apply),
        (0, STATE_APPLIED)
    );
    sleep(&mut m);
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Revert),
        (EBUSY, STATE_APPLIED),
        "{}",
        console(&m)
    );
    let refused = lines_with(&m, "REVERT refused");
    assert_eq!(refused.len(), 1, "{}", console(&m));
    let line = &refused[0];
    assert!(
        line.contains("xen_paging_wait: REVERT refused: d1v0 (sleeping, on CPU1) holds xen_paging_wait_new+0x")
            && line.contains("[xen_paging_wait], the return address of frame ")
            && line.ends_with("(livepatch-stack-check=on)"),
        "{line}"
    );
    // Once woken, the vCPU returns through the payload (answer + 1) ...
    assert_eq!(wake(&mut m, 41).unwrap_or_else(|e| panic!("{e}")), 42);
    // ... and the same actions, retried, succeed; nothing fires after.
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Revert),
        (0, STATE_CHECKED)
    );
    assert_eq!(settle(&mut m, "xen_paging_wait", Action::Unload).0, ENOENT);
    Guest::new(&mut m, SLEEPER)
        .post(nr::MEMORY_OP, [XENMEM_PAGING_REQUEST, 0, 0, 0, 0])
        .expect("post");
    m.run_for(2 * MS).expect("run");
    assert_eq!(wake(&mut m, 7).expect("no detector"), 7, "the original");
    m.run_for(5 * MS).expect("no detector");
}

#[test]
fn apply_over_a_function_a_sleeper_is_in_is_refused_until_it_returned() {
    let mut m = booted(4, "");
    upload(&mut m, "xen_paging_wait");
    // d1v0 sleeps in the hypervisor's own mem_paging_wait().
    sleep(&mut m);
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Apply),
        (EBUSY, STATE_CHECKED)
    );
    let refused = lines_with(&m, "APPLY refused");
    assert_eq!(refused.len(), 1, "{}", console(&m));
    assert!(
        refused[0].contains("d1v0 (sleeping, on CPU1) holds mem_paging_wait+0x"),
        "{}",
        refused[0]
    );
    // An unrelated patch goes ahead meanwhile.
    upload(&mut m, "xen_hello_world");
    assert_eq!(
        settle(&mut m, "xen_hello_world", Action::Apply),
        (0, STATE_APPLIED)
    );
    assert_eq!(wake(&mut m, 5).expect("wake"), 5, "the original ran");
    // (Both stack on the hypervisor: one at a time.)
    assert_eq!(
        settle(&mut m, "xen_hello_world", Action::Revert),
        (0, STATE_CHECKED)
    );
    assert_eq!(
        settle(&mut m, "xen_paging_wait", Action::Apply),
        (0, STATE_APPLIED)
    );
}

/// Whether APPLY of `name` was refused, on a machine where d1v0 sleeps in
/// mem_paging_wait().
fn refused(m: &mut Machine, name: &str) -> bool {
    upload(m, name);
    match settle(m, name, Action::Apply) {
        (0, STATE_APPLIED) => false,
        (EBUSY, STATE_CHECKED) => true,
        other => panic!("{name}: {other:?}\n{}", console(m)),
    }
}

#[test]
fn xens_coarse_rule_refuses_whatever_the_sleeper_holds() {
    // Over 1, 4 and 16 CPUs: each payload applied on the same sleeping
    // state under both rules. A refusal by `xen` that `on` does not make
    // is a false refusal: the sleeper holds nothing the patch changes.
    let payloads = ["xen_hello_world", "xen_nop", "xen_paging_wait"];
    let mut false_refusals = 0;
    let mut table = Vec::new();
    for vcpus in [1usize, 4, 16] {
        let mut on = booted(vcpus, "");
        let mut xen = booted(vcpus, "livepatch-stack-check=xen");
        sleep(&mut on);
        sleep(&mut xen);
        let snap_on = on.snapshot().expect("snapshot");
        let snap_xen = xen.snapshot().expect("snapshot");
        for p in payloads {
            on.restore(&snap_on).expect("restore");
            xen.restore(&snap_xen).expect("restore");
            let (r_on, r_xen) = (refused(&mut on, p), refused(&mut xen, p));
            assert_eq!(r_on, p == "xen_paging_wait", "{p} on {vcpus} vCPUs");
            assert!(r_xen, "{p} on {vcpus} vCPUs: xen refuses all");
            if r_xen && !r_on {
                false_refusals += 1;
            }
            table.push(format!("{vcpus} {p}: on {r_on}, xen {r_xen}"));
        }
        let line = lines_with(&xen, "APPLY refused").pop().expect("a refusal");
        assert!(
            line.contains("d1v0 (sleeping, on CPU")
                && line.ends_with("sleeps on a waitqueue (livepatch-stack-check=xen)"),
            "{line}"
        );
    }
    assert_eq!(false_refusals, 6, "{table:#?}");
}

#[test]
fn a_payload_another_one_links_against_cannot_be_unloaded_first() {
    let mut m = booted(2, "");
    upload(&mut m, "xen_paging_wait");
    upload(&mut m, "xen_paging_link");
    assert_eq!(settle(&mut m, "xen_paging_wait", Action::Unload).0, EBUSY);
    assert_eq!(
        lines_with(&m, "can't unload"),
        [
            "(XEN) livepatch: xen_paging_wait: can't unload: xen_paging_link links against \
          its symbol xen_paging_banner; unload xen_paging_link first"
        ]
    );
    // The link works: xen_extra_version() returns the exported banner.
    assert_eq!(
        settle(&mut m, "xen_paging_link", Action::Apply),
        (0, STATE_APPLIED)
    );
    let v = Guest::new(&mut m, 1).extraversion().expect("hypercall");
    assert_eq!(v, Ok("Paging World".to_string()));
    assert_eq!(
        settle(&mut m, "xen_paging_link", Action::Revert),
        (0, STATE_CHECKED)
    );
    assert_eq!(settle(&mut m, "xen_paging_link", Action::Unload).0, ENOENT);
    assert_eq!(settle(&mut m, "xen_paging_wait", Action::Unload).0, ENOENT);
    // Defining a name again (a cumulative payload) takes no reference.
    upload(&mut m, "xen_paging_wait");
    upload(&mut m, "xen_paging_again");
    assert_eq!(lines_with(&m, "also exported").len(), 1, "{}", console(&m));
    assert_eq!(settle(&mut m, "xen_paging_wait", Action::Unload).0, ENOENT);
    assert_eq!(settle(&mut m, "xen_paging_again", Action::Unload).0, ENOENT);
}

#[test]
fn revert_waits_for_a_sleeper_in_any_code_of_the_payload() {
    // xen_paging_tail's replacement tail-calls a helper of the payload:
    // the sleeper holds the helper, not the replacement. Returning into
    // a reverted payload's text is what the exec-after-revert detector
    // flags, so REVERT compares the payload's whole text: refused.
    let mut m = booted(4, "");
    upload(&mut m, "xen_paging_tail");
    assert_eq!(
        settle(&mut m, "xen_paging_tail", Action::Apply),
        (0, STATE_APPLIED)
    );
    sleep(&mut m);
    assert_eq!(
        settle(&mut m, "xen_paging_tail", Action::Revert),
        (EBUSY, STATE_APPLIED),
        "{}",
        console(&m)
    );
    let refused = lines_with(&m, "REVERT refused");
    assert_eq!(refused.len(), 1, "{}", console(&m));
    assert!(
        refused[0].contains(
            "xen_paging_tail: REVERT refused: d1v0 (sleeping, on CPU1) holds xen_paging_tail_sleep+0x"
        ) && refused[0].contains("[xen_paging_tail]"),
        "{}",
        refused[0]
    );
    assert_eq!(wake(&mut m, 40).expect("wake"), 42, "the helper ran");
    assert_eq!(
        settle(&mut m, "xen_paging_tail", Action::Revert),
        (0, STATE_CHECKED)
    );
    assert_eq!(settle(&mut m, "xen_paging_tail", Action::Unload).0, ENOENT);
    m.run_for(5 * MS).expect("no detector");
}
