//! mini-xen boots on 1 to 64 vCPUs, runs its guests, and every run is
//! reproducible from its seed.

mod common;

use common::{boot, console, ok, run};

const MS: u64 = 1_000_000;

fn check_boot(vcpus: usize) {
    let mut m = boot(vcpus, 1);
    let r = m.run_for(20 * MS);
    ok(&m, r);
    let c = console(&m);
    assert!(c.contains(&format!("Brought up {vcpus} CPUs")), "{c}");
    for cpu in 1..vcpus {
        assert!(
            c.contains(&format!("CPU{cpu}: online")),
            "CPU{cpu} missing:\n{c}"
        );
    }
    for d in 0..3 {
        assert!(c.contains(&format!("(d{d}) ")), "no output from d{d}:\n{c}");
    }
    assert!(!c.contains("FATAL"), "{c}");
}

#[test]
fn boots_on_1_vcpu() {
    check_boot(1);
}

#[test]
fn boots_on_2_vcpus() {
    check_boot(2);
}

#[test]
fn boots_on_4_vcpus() {
    check_boot(4);
}

#[test]
fn boots_on_16_vcpus() {
    check_boot(16);
}

#[test]
fn boots_on_64_vcpus() {
    check_boot(64);
}

fn run_digest(vcpus: usize, seed: u64) -> (String, String) {
    let mut m = boot(vcpus, seed);
    let r = m.run_for(10 * MS);
    ok(&m, r);
    let d = run(&mut m, |m| m.digest());
    (console(&m), d)
}

#[test]
fn same_seed_gives_an_identical_run() {
    let a = run_digest(4, 42);
    let b = run_digest(4, 42);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}

#[test]
fn different_seeds_give_different_runs() {
    let a = run_digest(4, 1);
    let b = run_digest(4, 2);
    assert_ne!(a.1, b.1);
}

#[test]
fn snapshot_restore_continues_bit_identically() {
    let mut m = boot(4, 5);
    let r = m.run_for(5 * MS);
    ok(&m, r);
    let snap = run(&mut m, |m| m.snapshot());
    let r = m.run_for(5 * MS);
    ok(&m, r);
    let first = run(&mut m, |m| m.digest());
    let first_console = console(&m);
    run(&mut m, |m| m.restore(&snap));
    let r = m.run_for(5 * MS);
    ok(&m, r);
    assert_eq!(run(&mut m, |m| m.digest()), first);
    assert_eq!(console(&m), first_console);
}

#[test]
fn printed_build_id_is_the_elf_note() {
    let mut m = boot(1, 1);
    let r = m.run_for(MS);
    ok(&m, r);
    let c = console(&m);
    let line = c
        .lines()
        .find_map(|l| l.split("build-id: ").nth(1))
        .unwrap_or_else(|| panic!("no build-id line:\n{c}"));
    assert_eq!(line.trim(), m.image().build_id_hex());
    assert_eq!(m.image().build_id.len(), 20, "sha1 build-id");
}

#[test]
fn a_reused_snapshot_buffer_restores_the_same_state() {
    let mut m = boot(2, 8);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    let mut snap = run(&mut m, |m| m.snapshot());
    let r = m.run_for(3 * MS);
    ok(&m, r);
    // Overwrite the old snapshot in place, then diverge and come back.
    run(&mut m, |m| m.snapshot_into(&mut snap));
    let r = m.run_for(3 * MS);
    ok(&m, r);
    let first = run(&mut m, |m| m.digest());
    run(&mut m, |m| m.restore(&snap));
    let r = m.run_for(3 * MS);
    ok(&m, r);
    assert_eq!(run(&mut m, |m| m.digest()), first);
}
