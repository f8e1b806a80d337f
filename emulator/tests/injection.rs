//! Injection lands exactly where it was asked for, through the guest IDT.

mod common;

use emulator::{Config, CrashReason, Irq, Machine, MachineError};

/// Sets up an IDT whose NMI gate (vector 2) stores the loop counter r12 in
/// a panic frame at 0x9000 and stops the machine; then counts in a loop.
const COUNTER: &str = r#"
.globl _start
_start:
    lea stack_top(%rip), %rsp
    lea idt(%rip), %rdi
    lea nmi(%rip), %rax
    mov %ax, 32(%rdi)
    movw $0x08, 34(%rdi)
    movb $0x8e, 37(%rdi)
    shr $16, %rax
    mov %ax, 38(%rdi)
    shr $16, %rax
    mov %eax, 40(%rdi)
    lidt idtr(%rip)
    xor %r12, %r12
count:
    inc %r12
    jmp count
nmi:
    mov %r12, 0x9000+3*8
    mov $0x9000, %eax
    mov $0x524, %dx
    out %eax, %dx
    .data
    .p2align 4
idtr:
    .word 4095
    .quad idt
    .p2align 12
idt:
    .fill 4096, 1, 0
    .fill 4096, 1, 0
stack_top:
"#;

/// Address of an assembler label of a test program.
fn label(img: &emulator::Image, name: &str) -> u64 {
    img.symbols
        .iter()
        .find(|s| s.name.ends_with(name))
        .map(|s| s.addr)
        .unwrap_or_else(|| panic!("no label {name}"))
}

fn counter_at(cycle: u64, seed: u64) -> u64 {
    let img = common::asm_image("counter", COUNTER);
    let mut m = Machine::new(img, Config::new(1, seed)).expect("machine");
    m.inject_at_cycle(0, cycle, Irq::Nmi).expect("inject");
    match m.run_for(10_000_000) {
        Err(MachineError::Crash(c)) => {
            assert_eq!(c.reason, CrashReason::Panic, "{c}");
            c.regs.r12
        }
        other => panic!("the NMI handler never ran: {other:?}"),
    }
}

#[test]
fn nmi_at_a_cycle_lands_on_that_instruction() {
    // Two instructions per iteration: two more cycles, one more count.
    let a = counter_at(100_001, 1);
    let b = counter_at(100_003, 1);
    assert_eq!(b, a + 1);
    let far = counter_at(1_000_001, 1);
    assert_eq!(far, a + 450_000);
}

#[test]
fn injection_point_does_not_depend_on_the_seed() {
    assert_eq!(counter_at(54_321, 1), counter_at(54_321, 99));
}

#[test]
fn nmi_at_an_address_interrupts_there() {
    let img = common::asm_image("counter_addr", COUNTER);
    let count = label(&img, "count");
    let mut m = Machine::new(img, Config::new(1, 3)).expect("machine");
    m.inject_at_addr(0, count, Irq::Nmi).expect("inject");
    match m.run_for(10_000_000) {
        Err(MachineError::Crash(c)) => assert_eq!(c.regs.r12, 0, "{c}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nmi_at_a_time_is_delivered_then() {
    let img = common::asm_image("counter_time", COUNTER);
    let mut m = Machine::new(img, Config::new(1, 5)).expect("machine");
    m.inject_at_time(200_000, 0, Irq::Nmi).expect("inject");
    m.run_for(150_000).expect("before the NMI");
    match m.run_for(1_000_000) {
        Err(MachineError::Crash(c)) => {
            assert_eq!(c.reason, CrashReason::Panic, "{c}");
            // 200 µs is 20 rounds; a vCPU runs Q/2..Q instructions a round,
            // two per iteration.
            assert!((50_000..=100_000).contains(&c.regs.r12), "{}", c.regs.r12);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn step_range_single_steps_every_vcpu_inside_it() {
    let img = common::asm_image("counter_step", COUNTER);
    let count = label(&img, "count");
    let mut m = Machine::new(img, Config::new(1, 5)).expect("machine");
    m.run_for(50_000).expect("warm up");
    m.add_step_range(count, count + 16);
    let before = m.stats();
    m.run_for(2_000).expect("stepping");
    let after = m.stats();
    assert_eq!(after.rounds - before.rounds, 2_000);
    assert_eq!(after.instructions - before.instructions, 2_000);
}
