//! The race engine on mini-xen: instruction-granular windows over the
//! code that runs while patches are written, detectors silent on every
//! clean apply/revert/unload, spinning that cannot change anything is not
//! single-stepped, and a live-patch run replays from its log.

mod common;

use std::path::PathBuf;

use common::{boot, console};
use emulator::livepatch::{Action, Client, STATE_APPLIED, STATE_CHECKED};
use emulator::window::WindowKind;
use emulator::{Irq, Machine, Strategy};

const MS: u64 = 1_000_000;

fn payload(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test")
        .join(format!("{name}.livepatch"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

fn booted(vcpus: usize, seed: u64) -> Machine {
    let mut m = boot(vcpus, seed);
    m.run_for(5 * MS)
        .unwrap_or_else(|e| panic!("{e}\n{}", console(&m)));
    m
}

/// A window over `.text.unpatchable`: the rendezvous and the patch writers.
fn unpatchable_window(m: &mut Machine) {
    let start = m.symbol("__unpatchable_start").expect("start");
    let end = m.symbol("__unpatchable_end").expect("end");
    m.add_window(WindowKind::Range { start, end });
}

fn settle(m: &mut Machine, name: &str, a: Action) -> (i64, u32) {
    let r = Client::new(m).action_and_settle(name, a, 0, 0);
    match r {
        Ok((0, Some(Ok(st)))) => (i64::from(st.rc), st.state),
        Ok((0, Some(Err(rc)))) => (rc, 0),
        Ok((rc, _)) => (rc, 0),
        Err(e) => panic!("{name} {a:?}: {e}\n{}", console(m)),
    }
}

fn upload(m: &mut Machine, name: &str) {
    let bytes = payload(name);
    let rc = Client::new(m)
        .upload(name, &bytes)
        .unwrap_or_else(|e| panic!("{e}\n{}", console(m)));
    assert_eq!(rc, 0, "{name}: {}", console(m));
}

#[test]
fn detectors_stay_silent_on_clean_apply_revert_unload_of_every_test_payload() {
    // Payloads that apply on their own (bye depends on hello; the others
    // are refused at upload or by design).
    let singles = [
        "xen_hello_world",
        "xen_nop",
        "xen_expectations",
        "xen_hooks",
    ];
    for vcpus in [1usize, 4, 64] {
        let mut m = booted(vcpus, 7);
        unpatchable_window(&mut m);
        for p in singles {
            upload(&mut m, p);
            assert_eq!(settle(&mut m, p, Action::Apply), (0, STATE_APPLIED), "{p}");
            assert_eq!(settle(&mut m, p, Action::Revert), (0, STATE_CHECKED), "{p}");
            assert_eq!(settle(&mut m, p, Action::Unload).0, -2, "{p} unloaded");
        }
        // A stack: hello, bye on top, then REPLACE by replace_world.
        for p in ["xen_hello_world", "xen_bye_world", "xen_replace_world"] {
            upload(&mut m, p);
        }
        for p in ["xen_hello_world", "xen_bye_world"] {
            assert_eq!(settle(&mut m, p, Action::Apply), (0, STATE_APPLIED), "{p}");
        }
        assert_eq!(
            settle(&mut m, "xen_replace_world", Action::Replace),
            (0, STATE_APPLIED)
        );
        assert_eq!(
            settle(&mut m, "xen_replace_world", Action::Revert),
            (0, STATE_CHECKED)
        );
        m.check_events().expect("no NMI/MCE lost");
    }
}

#[test]
fn a_timed_out_rendezvous_is_not_single_stepped_for_30_ms() {
    let mut m = booted(4, 1);
    unpatchable_window(&mut m);
    upload(&mut m, "xen_hello_world");
    // vCPU 2 spins with interrupts off for 100 ms: everyone else waits in
    // the rendezvous until the 30 ms deadline.
    let until = m.now() + 100 * MS;
    m.hold_vcpu(2, until).expect("hold");
    let before = m.stats();
    let (rc, state) = settle(&mut m, "xen_hello_world", Action::Apply);
    assert_eq!((rc, state), (-16, STATE_CHECKED), "{}", console(&m));
    let after = m.stats();
    // 30 ms of virtual time on 3 vCPUs is ~90 M instructions; the waiting
    // is run in backed-off coarse slots, not one step each.
    let steps = after.fine_steps - before.fine_steps;
    let slots = after.slots - before.slots;
    assert!(steps < 200_000, "{steps} single steps");
    assert!(slots < 1_000_000, "{slots} slots");
}

#[test]
fn an_nmi_at_a_chosen_point_of_the_apply_window_is_handled_and_applies() {
    let mut m = booted(4, 3);
    upload(&mut m, "xen_hello_world");
    unpatchable_window(&mut m);
    let snap = m.snapshot().expect("snapshot");
    let writer = m.symbol("arch_livepatch_apply").expect("patch writer");
    for (seed, target) in [(1u64, 1usize), (2, 2), (3, 3)] {
        m.restore(&snap).expect("restore");
        m.set_strategy(Strategy::Random { seed }).expect("strategy");
        // When the master starts writing, an NMI hits another vCPU.
        m.arm(emulator::trigger::Trigger {
            when: emulator::trigger::When::Reach {
                vcpu: None,
                addr: writer,
                visit: emulator::trigger::Visit::Nth(1),
            },
            action: emulator::trigger::Action::Inject {
                vcpu: target,
                irq: Irq::Nmi,
            },
        })
        .expect("arm");
        assert_eq!(
            settle(&mut m, "xen_hello_world", Action::Apply),
            (0, STATE_APPLIED),
            "seed {seed}"
        );
        // The NMI may still be pending when the action is done.
        m.run_for(MS).expect("run");
        let s = m.vcpu(target).expect("vcpu");
        assert_eq!(s.nmis_delivered, 1, "seed {seed}");
    }
}

#[test]
fn a_live_patch_run_replays_from_its_log_and_payloads() {
    let hello = payload("xen_hello_world");
    let record = || {
        let mut m = booted(2, 9);
        unpatchable_window(&mut m);
        upload(&mut m, "xen_hello_world");
        m.inject_now(1, Irq::Nmi).expect("nmi");
        assert_eq!(
            settle(&mut m, "xen_hello_world", Action::Apply),
            (0, STATE_APPLIED)
        );
        m.schedule_log().expect("log")
    };
    let log = record();
    assert_eq!(log.blobs().len(), 1, "the payload is named by hash");
    let mut fresh = boot(2, 9);
    let blob = |h: &str| (blake3::hash(&hello).to_hex().as_str() == h).then(|| hello.clone());
    let digest = fresh.replay(&log, &blob).unwrap_or_else(|e| panic!("{e}"));
    match log.entries.last() {
        Some(emulator::log::Entry::End { digest: d, .. }) => assert_eq!(&digest, d),
        other => panic!("{other:?}"),
    }
    // Without the payload the replay says what is missing.
    let mut fresh = boot(2, 9);
    assert!(matches!(
        fresh.replay(&log, &|_| None),
        Err(emulator::MachineError::MissingBlob { .. })
    ));
}

#[test]
fn a_dirty_page_restore_is_bit_identical_to_a_full_one_after_code_was_patched() {
    let mut m = booted(4, 5);
    upload(&mut m, "xen_hello_world");
    let snap = m.snapshot().expect("snapshot");
    let at_snapshot = m.digest().expect("digest");
    // Patch code (the apply writes the jmp into xen_extra_version), run on.
    assert_eq!(
        settle(&mut m, "xen_hello_world", Action::Apply),
        (0, STATE_APPLIED)
    );
    let site = m.symbol("xen_extra_version").expect("site");
    let mut patched = [0u8; 1];
    m.ram().read(site, &mut patched).expect("ram");
    assert_eq!(patched, [0xe9], "the apply wrote a jmp");
    assert!(m.ram().dirty_count() > 0);
    // Incremental restore: only the dirty pages come back.
    m.restore(&snap).expect("restore");
    assert_eq!(m.ram().dirty_count(), 0);
    assert_eq!(m.digest().expect("digest"), at_snapshot);
    // The restored machine runs exactly as the snapshot's first run did,
    // old code included (no stale translation of the patched page).
    let rerun = |m: &mut Machine| {
        assert_eq!(
            settle(m, "xen_hello_world", Action::Apply),
            (0, STATE_APPLIED)
        );
        m.digest().expect("digest")
    };
    let first = rerun(&mut m);
    // A full restore: the snapshot onto another machine of the same image
    // (not its baseline, so every page is copied).
    let mut other = booted(4, 6);
    other.restore(&snap).expect("full restore");
    assert_eq!(other.digest().expect("digest"), at_snapshot);
    assert_eq!(rerun(&mut other), first);
    m.restore(&snap).expect("restore");
    assert_eq!(rerun(&mut m), first);
}
