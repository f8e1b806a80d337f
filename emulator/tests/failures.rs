//! The machine reports failures instead of hanging: triple faults, engine
//! faults, deadlocks, run-away budgets. Uses tiny assembled programs so the
//! checks do not depend on mini-xen.

mod common;

use emulator::report::Deadlock;
use emulator::{Config, CrashReason, Machine, MachineError};

fn crash_of(src: &str, name: &str, vcpus: usize) -> emulator::Crash {
    let mut m = Machine::new(common::asm_image(name, src), Config::new(vcpus, 7)).expect("machine");
    match m.run_for(500_000_000) {
        Err(MachineError::Crash(c)) => *c,
        other => panic!("expected a crash, got {other:?}"),
    }
}

#[test]
fn ud2_without_an_idt_is_a_triple_fault_with_a_report() {
    let c = crash_of(".globl _start\n_start:\n nop\nboom:\n ud2\n", "triple", 1);
    assert!(matches!(c.reason, CrashReason::TripleFault { .. }), "{c}");
    assert_eq!(c.vcpu, 0);
    let text = c.to_string();
    assert!(text.contains("=> "), "disassembly marks RIP:\n{text}");
    assert!(text.contains("boom"), "RIP is symbolised:\n{text}");
}

#[test]
fn halting_with_interrupts_off_is_a_deadlock() {
    let c = crash_of(".globl _start\n_start:\n cli\n hlt\n", "cli_hlt", 1);
    assert!(matches!(c.reason, CrashReason::Deadlock(_)), "{c}");
}

#[test]
fn spinning_forever_in_the_hypervisor_is_a_deadlock() {
    let c = crash_of(
        ".globl _start\n_start:\nspin:\n pause\n jmp spin\n",
        "spin",
        1,
    );
    match &c.reason {
        CrashReason::Deadlock(Deadlock::NoProgress { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        c.function.as_deref().is_some_and(|f| f.ends_with("spin")),
        "{c}"
    );
}

#[test]
fn jumping_outside_ram_is_reported() {
    let c = crash_of(
        ".globl _start\n_start:\n movabs $0x800000000, %rax\n jmp *%rax\n",
        "wild",
        1,
    );
    assert!(matches!(c.reason, CrashReason::Engine(_)), "{c}");
}

#[test]
fn panic_port_stops_the_machine_with_the_given_frame() {
    // A cpu_user_regs frame at 0x9000 whose rip names `victim`.
    let src = r#"
.globl _start
_start:
    movabs $victim, %rax
    movq %rax, 0x9000+16*8
    movq $0x9000, %rax
    mov $0x524, %dx
    out %eax, %dx
victim:
    nop
    nop
"#;
    let c = crash_of(src, "panic", 2);
    assert_eq!(c.reason, CrashReason::Panic);
    assert!(
        c.function.as_deref().is_some_and(|f| f.ends_with("victim")),
        "{c}"
    );
}
