//! Interrupts, exceptions and debug keys reach mini-xen's handlers.

mod common;

use common::{boot, console, ok, run};
use emulator::hypercall::{errno, Guest};
use emulator::report::Budget;
use emulator::{CrashReason, Irq, MachineError};

const MS: u64 = 1_000_000;

#[test]
fn every_injected_nmi_is_handled_once() {
    let mut m = boot(2, 3);
    let r = m.run_for(5 * MS);
    ok(&m, r);
    let start = m.vcpu(1).map(|v| v.cycles).unwrap_or(0);
    for i in 0..7u64 {
        run(&mut m, |m| {
            m.inject_at_cycle(1, start + 100_000 + i * 37_001, Irq::Nmi)
        });
    }
    let r = m.run_for(5 * MS);
    ok(&m, r);
    assert_eq!(m.vcpu(1).map(|v| v.nmis_delivered), Some(7));
    assert_eq!(run(&mut m, |m| m.read_symbol_u64("nmi_count", 1)), 7);
    assert_eq!(run(&mut m, |m| m.read_symbol_u64("nmi_count", 0)), 0);
}

#[test]
fn machine_checks_are_handled() {
    let mut m = boot(2, 3);
    let r = m.run_for(5 * MS);
    ok(&m, r);
    run(&mut m, |m| m.inject_now(0, Irq::Mce));
    run(&mut m, |m| m.inject_now(0, Irq::Mce));
    let r = m.run_for(5 * MS);
    ok(&m, r);
    assert_eq!(ok(&m, m.read_symbol_u64("mce_count", 0)), 2);
}

#[test]
fn nmi_in_a_hypercall_path_is_handled() {
    let mut m = boot(1, 3);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    run(&mut m, |m| {
        m.inject_at_symbol(0, "do_xen_version", 0, Irq::Nmi)
    });
    let v = run(&mut m, |m| Guest::new(m, 1).version());
    assert_eq!(v, (4, 21));
    assert_eq!(run(&mut m, |m| m.read_symbol_u64("nmi_count", 0)), 1);
}

#[test]
fn crash_key_reports_the_faulting_function() {
    let mut m = boot(2, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    m.send_input(b"C");
    match m.run_for(5 * MS) {
        Err(MachineError::Crash(c)) => {
            assert_eq!(c.reason, CrashReason::Panic);
            let f = c.function.clone().unwrap_or_default();
            assert!(f.contains("crash"), "function {f}:\n{c}");
            let text = c.to_string();
            assert!(text.contains("Call trace"), "{text}");
            assert!(console(&m).contains("FATAL"), "{}", console(&m));
        }
        other => panic!("no crash: {other:?}\n{}", console(&m)),
    }
}

#[test]
fn dump_key_prints_symbolised_state_of_every_cpu() {
    let mut m = boot(4, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    m.send_input(b"d");
    let r = m.run_for(5 * MS);
    ok(&m, r);
    let c = console(&m);
    for cpu in 0..4 {
        assert!(c.contains(&format!("CPU{cpu}")), "{c}");
    }
    // Symbolised frames look like `[<addr>] name+0x../0x..`.
    let symbolised = c
        .lines()
        .filter(|l| l.contains("[<") && l.contains("+0x") && l.contains('/'))
        .count();
    assert!(symbolised >= 4, "{c}");
}

#[test]
fn help_key_lists_the_keys() {
    let mut m = boot(1, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    m.send_input(b"h");
    let r = m.run_for(3 * MS);
    ok(&m, r);
    let c = console(&m);
    for k in ["'d'", "'C'", "'x'", "'h'"] {
        assert!(c.contains(k), "{k} not listed:\n{c}");
    }
}

#[test]
fn warn_in_a_hypercall_is_reported_and_the_guest_goes_on() {
    let mut m = boot(2, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    let rc = run(&mut m, |m| Guest::new(m, 1).evtchn_send(0));
    assert_eq!(rc, -errno::EINVAL);
    let c = console(&m);
    assert!(c.contains("Xen WARN at"), "{c}");
    assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 21));
    let r = m.run_for(2 * MS);
    ok(&m, r);
}

#[test]
fn copy_from_an_unmapped_guest_page_is_fixed_up_to_efault() {
    let mut m = boot(1, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    // The last page of each domain window is not mapped.
    let hole = emulator::platform::domain_window(1) + emulator::platform::DOMAIN_SIZE - 16;
    let rc = run(&mut m, |m| Guest::new(m, 1).write_word(0, 0, Some(hole)));
    assert_eq!(rc, -errno::EFAULT);
    assert_eq!(run(&mut m, |m| Guest::new(m, 1).version()), (4, 21));
}

#[test]
fn memory_update_is_bounds_checked() {
    let mut m = boot(1, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    let mut g = Guest::new(&mut m, 2);
    assert_eq!(ok_g(g.write_word(8, 0xfeed, None)), 0);
    assert_eq!(ok_g(g.write_word(1 << 40, 1, None)), -errno::EINVAL);
    assert_eq!(ok_g(g.write_word(u64::MAX - 3, 1, None)), -errno::EINVAL);
    let window = emulator::platform::domain_window(2);
    let data = window + emulator::hypercall::XEN_MEMORY_WINDOW_DATA;
    assert_eq!(m.ram().read_u64(data + 8), Ok(0xfeed));
}

fn ok_g<T>(r: Result<T, MachineError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn sysctl_is_for_dom0_only() {
    let mut m = boot(4, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    let info = run(&mut m, |m| Guest::new(m, 0).physinfo()).expect("dom0 may");
    assert_eq!(info.nr_cpus, 4);
    assert_eq!(info.nr_domains, 3);
    assert_eq!(
        run(&mut m, |m| Guest::new(m, 1).physinfo()),
        Err(-errno::EPERM)
    );
    assert_eq!(
        run(&mut m, |m| Guest::new(m, 0).physinfo_with_version(1)),
        Err(-errno::EACCES)
    );
}

#[test]
fn extraversion_and_build_id_reach_the_guest() {
    let mut m = boot(2, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    let extra = run(&mut m, |m| Guest::new(m, 1).extraversion()).expect("extraversion");
    assert!(!extra.is_empty());
    let id = run(&mut m, |m| Guest::new(m, 0).build_id()).expect("build id");
    assert_eq!(id, m.image().build_id);
}

#[test]
fn a_hypercall_that_never_completes_exhausts_its_budget() {
    let mut m = boot(2, 1);
    let r = m.run_for(2 * MS);
    ok(&m, r);
    // d1 runs on CPU 1; hold that CPU for longer than the budget.
    let until = m.now() + 5_000 * MS;
    run(&mut m, |m| m.hold_vcpu(1, until));
    match Guest::new(&mut m, 1).version() {
        Err(MachineError::Crash(c)) => match &c.reason {
            CrashReason::Budget(Budget::Hypercall { domid, .. }) => assert_eq!(*domid, 1),
            other => panic!("{other:?}"),
        },
        other => panic!("expected a budget report, got {other:?}"),
    }
}
