//! Live patching end to end: payloads built by `make tests` in mini-xen are
//! uploaded by dom0 through the sysctl, applied in a rendezvous of every
//! vCPU, and seen by the guests; each refusal carries Xen's errno.

mod common;

use std::path::PathBuf;

use common::{boot, console, ok, run};
use emulator::hypercall::{errno, Guest};
use emulator::livepatch::{Action, Client, Status, STATE_APPLIED, STATE_CHECKED};
use emulator::Machine;

const MS: u64 = 1_000_000;

fn payload_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test")
        .join(format!("{name}.livepatch"))
}

fn payload(name: &str) -> Vec<u8> {
    let p = payload_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

fn booted(vcpus: usize) -> Machine {
    let mut m = boot(vcpus, 1);
    let r = m.run_for(5 * MS);
    ok(&m, r);
    m
}

fn extraversion(m: &mut Machine, domid: u32) -> String {
    run(m, |m| Guest::new(m, domid).extraversion()).expect("extraversion")
}

fn upload(m: &mut Machine, name: &str) -> i64 {
    let bytes = payload(name);
    let r = Client::new(m).upload(name, &bytes);
    r.unwrap_or_else(|e| panic!("{e}\n{}", console(m)))
}

fn action(m: &mut Machine, name: &str, a: Action) -> i64 {
    let r = Client::new(m).action(name, a, 30 * MS as u32, 0);
    r.unwrap_or_else(|e| panic!("{e}\n{}", console(m)))
}

fn status(m: &mut Machine, name: &str) -> Result<Status, i64> {
    let r = Client::new(m).get(name);
    r.unwrap_or_else(|e| panic!("{e}\n{}", console(m)))
}

/// Issues `a` and lets the rendezvous finish; returns the final status.
fn act_and_wait(m: &mut Machine, name: &str, a: Action) -> Result<Status, i64> {
    let r = Client::new(m).action_and_settle(name, a, 30 * MS as u32, 0);
    match r {
        Ok((0, Some(st))) => st,
        Ok((rc, _)) => panic!("{name}: {a:?} refused with {rc}\n{}", console(m)),
        Err(e) => panic!("{e}\n{}", console(m)),
    }
}

fn hello_apply_revert(vcpus: usize) {
    let mut m = booted(vcpus);
    let original = extraversion(&mut m, 1);
    assert_eq!(upload(&mut m, "xen_hello_world"), 0, "{}", console(&m));
    assert_eq!(
        status(&mut m, "xen_hello_world"),
        Ok(Status {
            state: STATE_CHECKED,
            rc: 0
        })
    );
    let st = act_and_wait(&mut m, "xen_hello_world", Action::Apply);
    assert_eq!(
        st,
        Ok(Status {
            state: STATE_APPLIED,
            rc: 0
        }),
        "{}",
        console(&m)
    );
    // Every domain, on whichever vCPU it runs, sees the new function.
    for d in 0..3 {
        assert_eq!(extraversion(&mut m, d), "Hello World");
    }
    // Reports name payload code by function and payload: the jmp at the
    // old entry leads to the replacement.
    let old = m.symbol("xen_extra_version").expect("symbol");
    let mut jmp = [0u8; 5];
    m.ram().read(old, &mut jmp).expect("ram");
    assert_eq!(jmp[0], 0xe9, "a jmp rel32 at the old entry");
    let rel = i32::from_le_bytes([jmp[1], jmp[2], jmp[3], jmp[4]]);
    let new = (old + 5).wrapping_add_signed(i64::from(rel));
    let at = m.describe(new + 0x14);
    assert!(
        at.starts_with("xen_hello_world+0x14/") && at.ends_with(" [xen_hello_world]"),
        "{at}"
    );
    let st = act_and_wait(&mut m, "xen_hello_world", Action::Revert);
    assert_eq!(
        st,
        Ok(Status {
            state: STATE_CHECKED,
            rc: 0
        }),
        "{}",
        console(&m)
    );
    assert_eq!(extraversion(&mut m, 2), original);
}

#[test]
fn hello_world_applies_and_reverts_on_1_vcpu() {
    hello_apply_revert(1);
}

#[test]
fn hello_world_applies_and_reverts_on_4_vcpus() {
    hello_apply_revert(4);
}

#[test]
fn hello_world_applies_and_reverts_on_64_vcpus() {
    hello_apply_revert(64);
}

#[test]
fn stacking_replace_and_lifo_revert() {
    let mut m = booted(4);
    for p in ["xen_hello_world", "xen_bye_world", "xen_replace_world"] {
        assert_eq!(upload(&mut m, p), 0, "{p}: {}", console(&m));
    }
    // bye depends on hello's build-id: refused while hello is not applied.
    assert_eq!(
        action(&mut m, "xen_bye_world", Action::Apply),
        -errno::EINVAL
    );
    assert_eq!(
        act_and_wait(&mut m, "xen_hello_world", Action::Apply).map(|s| s.state),
        Ok(STATE_APPLIED)
    );
    assert_eq!(
        act_and_wait(&mut m, "xen_bye_world", Action::Apply).map(|s| s.state),
        Ok(STATE_APPLIED)
    );
    assert_eq!(extraversion(&mut m, 1), "Bye World");
    // LIFO: hello is not on top.
    assert_eq!(
        action(&mut m, "xen_hello_world", Action::Revert),
        -errno::EBUSY
    );
    // Unload of an applied payload is refused.
    assert_eq!(
        action(&mut m, "xen_hello_world", Action::Unload),
        -errno::EINVAL
    );
    // REPLACE reverts both and applies the new one.
    assert_eq!(
        act_and_wait(&mut m, "xen_replace_world", Action::Replace).map(|s| s.state),
        Ok(STATE_APPLIED)
    );
    assert_eq!(extraversion(&mut m, 0), "Hello Again Wor");
    assert_eq!(
        status(&mut m, "xen_hello_world").map(|s| s.state),
        Ok(STATE_CHECKED)
    );
    assert_eq!(
        status(&mut m, "xen_bye_world").map(|s| s.state),
        Ok(STATE_CHECKED)
    );
    // Unload of a CHECKED payload frees it.
    assert_eq!(action(&mut m, "xen_bye_world", Action::Unload), 0);
    assert_eq!(status(&mut m, "xen_bye_world"), Err(-errno::ENOENT));
}

#[test]
fn apply_times_out_with_a_stuck_vcpu_and_changes_nothing() {
    let mut m = booted(4);
    assert_eq!(upload(&mut m, "xen_hello_world"), 0);
    let target = m.symbol("xen_extra_version").expect("xen_extra_version");
    let mut before = [0u8; 16];
    m.ram().read(target, &mut before).expect("ram");
    // vCPU 2 spins with interrupts off for 100 ms: the 30 ms rendezvous
    // cannot complete.
    let until = m.now() + 100 * MS;
    run(&mut m, |m| m.hold_vcpu(2, until));
    assert_eq!(action(&mut m, "xen_hello_world", Action::Apply), 0);
    // A second action while the first is pending is refused.
    assert_eq!(
        action(&mut m, "xen_hello_world", Action::Unload),
        -errno::EBUSY
    );
    let r = m.run_for(60 * MS);
    ok(&m, r);
    assert_eq!(
        status(&mut m, "xen_hello_world"),
        Ok(Status {
            state: STATE_CHECKED,
            rc: -errno::EBUSY as i32
        }),
        "{}",
        console(&m)
    );
    let mut after = [0u8; 16];
    m.ram().read(target, &mut after).expect("ram");
    assert_eq!(before, after, "a byte of the old function changed");
    assert_ne!(extraversion(&mut m, 1), "Hello World");
    // Once the vCPU is released, a retry succeeds.
    let r = m.run_for(50 * MS);
    ok(&m, r);
    assert_eq!(
        act_and_wait(&mut m, "xen_hello_world", Action::Apply).map(|s| s.state),
        Ok(STATE_APPLIED)
    );
    assert_eq!(extraversion(&mut m, 1), "Hello World");
}

#[test]
fn malformed_payloads_are_refused_and_guests_go_on() {
    let mut m = booted(2);
    let cases: &[(&str, i64)] = &[
        ("xen_bad_no_xen_depends", -errno::EINVAL),
        ("xen_bad_wrong_depends", -errno::EINVAL),
        ("xen_bad_reloc_type", -95),
        ("xen_bad_reloc_sym0", -95),
        ("xen_bad_short_func", -errno::EINVAL),
        ("xen_bad_unpatchable", -errno::EINVAL),
        ("xen_bad_wx_section", -95),
        ("xen_bad_oversize", -errno::EINVAL),
        ("xen_bad_dup_func", -errno::EEXIST),
        ("xen_bad_func_offset", -errno::EINVAL),
        ("xen_bad_new_addr", -errno::EINVAL),
        ("xen_bad_self_jump", -errno::EINVAL),
        ("xen_bad_rela_info", -errno::EINVAL),
        ("xen_bad_rela_type", -errno::EINVAL),
    ];
    for (name, rc) in cases {
        assert_eq!(upload(&mut m, name), *rc, "{name}:\n{}", console(&m));
        assert_eq!(
            status(&mut m, name),
            Err(-errno::ENOENT),
            "{name} left behind"
        );
        assert!(console(&m).contains(name), "no console line names {name}");
        assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 21));
    }
    // One line per refusal, naming the defect.
    for needle in [
        "xen_bad_dup_func: xen_extra_version: 0x",
        "is already patched by entry 0 (xen_extra_version)",
        "xen_bad_func_offset: xen_extra_version: 0x",
        "is not the start of a function (xen_extra_version+0x1)",
        "xen_bad_new_addr: xen_extra_version: replacement 0xffffffffffffffff+0 is not in the payload's text",
        "xen_bad_self_jump: xen_extra_version: replacement 0x",
        "xen_bad_rela_info: .rela.text.xen_bad_rela_info_fn applies to section [",
        "xen_bad_rela_type: .rela.text.xen_bad_rela_type_fn is of type 1, not a relocation section",
    ] {
        assert!(console(&m).contains(needle), "{needle}:\n{}", console(&m));
    }
    // Code that runs while patches are written is never patched.
    assert!(
        console(&m).contains("check_for_livepatch_work runs while patches are written"),
        "{}",
        console(&m)
    );
    // A duplicate name is refused with -EEXIST.
    assert_eq!(upload(&mut m, "xen_hello_world"), 0);
    assert_eq!(upload(&mut m, "xen_hello_world"), -errno::EEXIST);
    // Unprivileged domains get -EPERM from the sysctl.
    let bytes = payload("xen_hello_world");
    let _ = bytes;
    assert_eq!(
        run(&mut m, |m| Guest::new(m, 1).physinfo()),
        Err(-errno::EPERM)
    );
}

#[test]
fn hooks_run_in_order_and_a_veto_stops_apply() {
    let mut m = booted(4);
    assert_eq!(upload(&mut m, "xen_hooks"), 0, "{}", console(&m));
    let st = act_and_wait(&mut m, "xen_hooks", Action::Apply);
    assert_eq!(st.map(|s| s.state), Ok(STATE_APPLIED), "{}", console(&m));
    assert_eq!(extraversion(&mut m, 1), "Hooks World");
    // REPLACE over a payload with pre/post hooks is not supported.
    assert_eq!(upload(&mut m, "xen_replace_world"), 0);
    assert_eq!(action(&mut m, "xen_replace_world", Action::Replace), -95);
    let st = act_and_wait(&mut m, "xen_hooks", Action::Revert);
    assert_eq!(st.map(|s| s.state), Ok(STATE_CHECKED), "{}", console(&m));
    assert_eq!(action(&mut m, "xen_hooks", Action::Unload), 0);
    let c = console(&m);
    let order: Vec<&str> = c
        .lines()
        .filter_map(|l| l.split("xen_hooks: ").nth(1))
        .filter_map(|l| l.strip_suffix(" hook (1)"))
        .collect();
    // As in Xen: load/unload hooks run inside apply/revert (quiesced),
    // which the action hooks wrap; pre and post hooks run outside.
    assert_eq!(
        order,
        [
            "pre-apply",
            "apply",
            "load",
            "post-apply",
            "pre-revert",
            "revert",
            "unload",
            "post-revert"
        ],
        "{c}"
    );
    assert!(c.contains("xen_hooks: every hook ran 1 time(s)"), "{c}");
    assert!(
        c.contains("[xen_hooks]"),
        "WARN in payload code is symbolised:\n{c}"
    );

    assert_eq!(upload(&mut m, "xen_hooks_veto"), 0);
    // The pre-apply hook vetoes in the hypercall itself.
    assert_eq!(
        action(&mut m, "xen_hooks_veto", Action::Apply),
        -errno::EPERM
    );
    assert_eq!(
        status(&mut m, "xen_hooks_veto").map(|s| s.state),
        Ok(STATE_CHECKED)
    );
}

#[test]
fn nop_and_expectations() {
    let mut m = booted(2);
    for p in ["xen_nop", "xen_expectations", "xen_expectations_fail"] {
        assert_eq!(upload(&mut m, p), 0, "{p}: {}", console(&m));
    }
    assert_eq!(
        action(&mut m, "xen_expectations_fail", Action::Apply),
        -errno::EINVAL
    );
    let st = act_and_wait(&mut m, "xen_nop", Action::Apply);
    assert_eq!(st.map(|s| s.state), Ok(STATE_APPLIED));
    assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 4));
    let st = act_and_wait(&mut m, "xen_nop", Action::Revert);
    assert_eq!(st.map(|s| s.state), Ok(STATE_CHECKED));
    assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 21));
    // No data of its own: safe to apply again after a revert.
    let st = act_and_wait(&mut m, "xen_nop", Action::Apply);
    assert_eq!(st.map(|s| s.state), Ok(STATE_APPLIED));
}

#[test]
fn apply_and_revert_hold_across_schedules_and_nmis() {
    use emulator::{Config, Irq};
    let bytes = payload("xen_hello_world");
    for seed in 1..=12u64 {
        let mut m = Machine::new(common::mini_xen(), Config::new(4, seed)).expect("machine");
        let r = m.run_for(5 * MS);
        ok(&m, r);
        assert_eq!(
            run(&mut m, |m| Ok(
                Client::new(m).upload("xen_hello_world", &bytes)
            ))
            .ok(),
            Some(0)
        );
        // NMIs on every vCPU around the rendezvous.
        let t = m.now();
        for v in 0..4 {
            for k in 0..3u64 {
                let at = t + 20_000 + k * 37_000 + v as u64 * 11_000;
                run(&mut m, |m| m.inject_at_time(at, v, Irq::Nmi));
            }
        }
        let st = act_and_wait(&mut m, "xen_hello_world", Action::Apply);
        assert_eq!(
            st.map(|s| s.state),
            Ok(STATE_APPLIED),
            "seed {seed}:\n{}",
            console(&m)
        );
        assert_eq!(extraversion(&mut m, 2), "Hello World", "seed {seed}");
        let st = act_and_wait(&mut m, "xen_hello_world", Action::Revert);
        assert_eq!(st.map(|s| s.state), Ok(STATE_CHECKED), "seed {seed}");
        let nmis: u64 = (0..4)
            .map(|v| m.vcpu(v).map_or(0, |s| s.nmis_delivered))
            .sum();
        assert_eq!(nmis, 12, "seed {seed}");
    }
}

/// Corrupts `p` at a few places, mostly in the ELF header and the section
/// header table, where the loader's checks are.
fn mutate(p: &[u8], rng: &mut rand_chacha::ChaCha8Rng) -> Vec<u8> {
    use rand::Rng;
    let mut m = p.to_vec();
    let u64_at = |b: &[u8], o: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(w)
    };
    let shoff = u64_at(p, 0x28) as usize;
    let shdrs = shoff..p.len();
    for _ in 0..rng.gen_range(1..=4) {
        let at = match rng.gen_range(0..4) {
            0 => rng.gen_range(0..64),
            1 | 2 => rng.gen_range(shdrs.clone()),
            _ => rng.gen_range(0..p.len()),
        };
        m[at] = match rng.gen_range(0..3) {
            0 => rng.gen(),
            1 => m[at] ^ (1 << rng.gen_range(0..8)),
            _ => 0xff,
        };
    }
    m
}

#[test]
fn corrupted_payloads_never_take_the_hypervisor_down() {
    use rand::SeedableRng;
    // The target is the ELF checks, which must hold for unauthenticated
    // input too (livepatch-signature=off or warn): under the default
    // (enforce) every mutant would stop at the signature.
    let mut m = common::boot_with(2, 1, "livepatch-signature=off");
    let r = m.run_for(5 * MS);
    ok(&m, r);
    let hello = payload("xen_hello_world");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let (mut refused, mut loaded) = (0, 0);
    for i in 0..600 {
        let name = format!("m{i}");
        let bad = mutate(&hello, &mut rng);
        let rc = Client::new(&mut m)
            .upload(&name, &bad)
            .unwrap_or_else(|e| panic!("mutant {i}: {e}\n{}", console(&m)));
        if rc == 0 {
            loaded += 1;
            // Harmless corruption: it must unload cleanly again.
            assert_eq!(action(&mut m, &name, Action::Unload), 0, "mutant {i}");
        } else {
            refused += 1;
            assert_eq!(
                status(&mut m, &name),
                Err(-errno::ENOENT),
                "mutant {i} left behind"
            );
        }
    }
    assert!(refused > 200, "only {refused} of 600 refused");
    // Still serving, and the real payload still loads and applies.
    assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 21));
    assert_eq!(upload(&mut m, "xen_hello_world"), 0);
    let st = act_and_wait(&mut m, "xen_hello_world", Action::Apply);
    assert_eq!(st.map(|s| s.state), Ok(STATE_APPLIED), "{}", console(&m));
    assert_eq!(extraversion(&mut m, 1), "Hello World");
    eprintln!("corrupted payloads: {refused} refused, {loaded} loaded and unloaded");
}

/// The fatal-trap report of a fault at `code` planted over
/// `xen_extra_version`, reached by a guest's XENVER_extraversion.
fn fatal_report_with(code: impl FnOnce(u64) -> Vec<u8>) -> String {
    let mut m = booted(2);
    let target = m.symbol("xen_extra_version").expect("xen_extra_version");
    m.host_write(target, &code(target)).expect("ram");
    match Guest::new(&mut m, 1).extraversion() {
        Err(emulator::MachineError::Crash(_)) => console(&m),
        other => panic!("no crash: {other:?}\n{}", console(&m)),
    }
}

#[test]
fn a_fatal_trap_in_a_patched_version_function_is_reported_in_full() {
    // A jump into the (unmapped) live-patch area, as after an unload of a
    // payload still jumped to: the dump itself must not call the patched
    // xen_extra_version() again.
    let base = abi::platform::LIVEPATCH_BASE;
    let c = fatal_report_with(|target| {
        let rel = i32::try_from(base as i64 - (target as i64 + 5)).expect("rel32");
        let mut jmp = vec![0xe9];
        jmp.extend_from_slice(&rel.to_le_bytes());
        jmp
    });
    assert!(!c.contains("recursive panic"), "{c}");
    assert!(
        c.contains(&format!("Faulting linear address: {base:016x}")),
        "{c}"
    );
    for needle in [
        "Xen-4.21-mini",
        "rax: ",
        "cr3: ",
        "Xen call trace:",
        "Panic on CPU",
    ] {
        assert!(c.contains(needle), "{needle}:\n{c}");
    }
}

#[test]
fn a_frame_pointer_at_the_top_of_the_address_space_ends_the_trace() {
    // push $-8; pop %rbp; ud2: the frame walk must not wrap to address 0.
    let c = fatal_report_with(|_| vec![0x6a, 0xf8, 0x5d, 0x0f, 0x0b]);
    assert!(!c.contains("recursive panic"), "{c}");
    for needle in [
        "invalid opcode",
        "rbp: fffffffffffffff8",
        "Xen call trace:",
        "Panic on CPU",
    ] {
        assert!(c.contains(needle), "{needle}:\n{c}");
    }
}
