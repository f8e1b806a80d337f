//! The hypervisor command line: written by the emulator through the boot
//! protocol, printed by mini-xen at boot, each `key=value` word applied by
//! its parameter, an unknown or refused one named in one console line.

mod common;

use common::{console, ok, run};
use emulator::hypercall::Guest;
use emulator::Machine;

const MS: u64 = 1_000_000;

fn boot_with(vcpus: usize, cmdline: &str) -> Machine {
    let mut m = common::boot_with(vcpus, 1, cmdline);
    let r = m.run_for(10 * MS);
    ok(&m, r);
    m
}

fn lines_with(c: &str, needle: &str) -> usize {
    c.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn the_command_line_is_printed_at_boot() {
    let m = boot_with(1, "maxcpus=1  no-such-thing");
    let c = console(&m);
    assert_eq!(
        lines_with(&c, "Command line: maxcpus=1  no-such-thing"),
        1,
        "{c}"
    );
    let m = boot_with(1, "");
    let c = console(&m);
    assert!(c.lines().any(|l| l.ends_with("Command line: ")), "{c}");
}

#[test]
fn an_unknown_option_is_named_in_one_line_and_boot_goes_on() {
    let mut m = boot_with(2, "frobnicate=3 no-maxcpus");
    let c = console(&m);
    assert_eq!(
        lines_with(&c, "unknown option \"frobnicate\" ignored"),
        1,
        "{c}"
    );
    // "no-" only negates booleans: maxcpus is an integer.
    assert_eq!(
        lines_with(&c, "unknown option \"no-maxcpus\" ignored"),
        1,
        "{c}"
    );
    assert!(c.contains("Brought up 2 CPUs"), "{c}");
    assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 21));
}

#[test]
fn maxcpus_leaves_cpus_offline() {
    let mut m = boot_with(4, "maxcpus=2");
    let c = console(&m);
    assert!(c.contains("Brought up 2 CPUs"), "{c}");
    assert!(c.contains("maxcpus=2, leaving 2 CPUs offline"), "{c}");
    let info = run(&mut m, |m| Guest::new(m, 0).physinfo()).expect("physinfo");
    assert_eq!(info.nr_cpus, 2);
    // Every domain still runs.
    for d in 0..3 {
        assert_eq!(run(&mut m, |m| Guest::new(m, d).version()), (4, 21));
    }
}

#[test]
fn a_refused_value_is_named_and_the_default_kept() {
    let m = boot_with(2, "maxcpus=two");
    let c = console(&m);
    assert_eq!(
        lines_with(&c, "option \"maxcpus\" refused value \"two\" (rc=-22)"),
        1,
        "{c}"
    );
    assert!(c.contains("Brought up 2 CPUs"), "{c}");
}
