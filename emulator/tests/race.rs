//! The race engine on tiny test programs: strategies are deterministic,
//! PCT finds a planted depth-2 bug within its bound, Bounded enumerates
//! exactly its count and any schedule runs alone, every detector fires on
//! a planted case, and logs replay.

mod common;

use emulator::detect::Finding;
use emulator::sched::bounded_count;
use emulator::trigger::{Action, Trigger, Visit, When};
use emulator::window::WindowKind;
use emulator::{Config, CrashReason, Image, Irq, Machine, MachineError, Strategy};

/// Both vCPUs increment a shared counter with a load, an add and a store
/// (not atomic), then CPU 0 waits for both and stores 1 at 0x9010 if the
/// counter is 2, or 2 (the bug: a lost update) if it is not.
const LOST_UPDATE: &str = r#"
.globl _start
_start:
    test %rdi, %rdi
    jnz work
    mov $1, %eax
    mov $0x520, %dx
    out %eax, %dx
work:
    mov 0x9000, %rax
    inc %rax
    mov %rax, 0x9000
    lock incq 0x9008
    test %rdi, %rdi
    jnz park
wait:
    pause
    cmpq $2, 0x9008
    jne wait
    cmpq $2, 0x9000
    jne bug
    movq $1, 0x9010
park:
    pause
    jmp park
bug:
    movq $2, 0x9010
    jmp park
"#;

/// The outcome at 0x9010 of one run of LOST_UPDATE, and its digest.
fn lost_update(m: &mut Machine) -> (u64, String) {
    let done = m
        .run_until(20_000_000, |m| {
            m.ram().read_u64(0x9010).is_ok_and(|r| r != 0)
        })
        .expect("run");
    assert!(done, "the program never finished");
    let r = m.ram().read_u64(0x9010).expect("ram");
    (r, m.digest().expect("digest"))
}

/// A fresh LOST_UPDATE machine, single-stepped everywhere, with `s`.
fn lost_update_with(img: &Image, s: Strategy) -> Machine {
    let mut m = Machine::new(img.clone(), Config::new(2, 1)).expect("machine");
    m.add_window(WindowKind::Always);
    m.set_strategy(s).expect("strategy");
    m
}

fn label(img: &Image, name: &str) -> u64 {
    img.symbols
        .iter()
        .find(|s| s.name == name || s.name.ends_with(&format!("#{name}")))
        .map(|s| s.addr)
        .unwrap_or_else(|| panic!("no label {name}"))
}

#[test]
fn every_strategy_is_a_function_of_its_parameters() {
    let img = common::asm_image("lost_update_det", LOST_UPDATE);
    let strategies = [
        Strategy::Random { seed: 3 },
        Strategy::RoundRobin { quantum: 7 },
        Strategy::Pct {
            seed: 5,
            depth: 2,
            steps: 40,
            drop: 0,
        },
        Strategy::Bounded {
            max_preemptions: 1,
            steps: 40,
            index: 17,
        },
    ];
    let mut digests = Vec::new();
    for s in strategies {
        let mut a = lost_update_with(&img, s);
        let mut b = lost_update_with(&img, s);
        let (ra, da) = lost_update(&mut a);
        let (rb, db) = lost_update(&mut b);
        assert_eq!((ra, &da), (rb, &db), "{s:?}");
        assert_eq!(
            a.schedule_log().expect("log"),
            b.schedule_log().expect("log")
        );
        digests.push(format!("{s:?}: outcome {ra}, digest {da}"));
    }
    // The same values in every process and on every machine.
    insta::with_settings!({snapshot_path => "../../snapshots/emulator"}, {
        insta::assert_snapshot!("strategy_digests", digests.join("\n"));
    });
}

#[test]
fn pct_finds_a_depth_2_lost_update_within_its_bound() {
    let img = common::asm_image("lost_update_pct", LOST_UPDATE);
    // k: fine steps of one run (PCT learns it from a first run).
    let mut first = lost_update_with(
        &img,
        Strategy::Pct {
            seed: 0,
            depth: 1,
            steps: 1,
            drop: 0,
        },
    );
    let (r, _) = lost_update(&mut first);
    assert_eq!(r, 1, "depth 1 (no change point) runs each vCPU to its end");
    let k = first.stats().fine_steps;
    assert!(k > 0);
    // PCT's bound: a depth-d bug among n threads and k steps is hit with
    // probability >= 1 / (n * k^(d-1)) per run; here 1 / (2k). 8k runs
    // miss it with probability below (1 - 1/2k)^(8k) < e^-4 (2%); the
    // seeds are fixed, so the outcome is deterministic.
    let budget = 8 * k;
    let found = (0..budget).find(|&seed| {
        let mut m = lost_update_with(
            &img,
            Strategy::Pct {
                seed,
                depth: 2,
                steps: k,
                drop: 0,
            },
        );
        lost_update(&mut m).0 == 2
    });
    let seed = found.unwrap_or_else(|| panic!("no lost update in {budget} PCT runs (k = {k})"));
    // Replaying the failing run gives the same outcome.
    let mut again = lost_update_with(
        &img,
        Strategy::Pct {
            seed,
            depth: 2,
            steps: k,
            drop: 0,
        },
    );
    assert_eq!(lost_update(&mut again).0, 2);
}

#[test]
fn bounded_enumerates_its_count_and_each_schedule_runs_alone() {
    let img = common::asm_image("lost_update_bounded", LOST_UPDATE);
    let base = |m: &mut Machine| lost_update(m);
    let mut m0 = lost_update_with(
        &img,
        Strategy::Bounded {
            max_preemptions: 0,
            steps: 1,
            index: 0,
        },
    );
    assert_eq!(base(&mut m0).0, 1, "the base schedule has no preemption");
    let steps = m0.stats().fine_steps;
    for k in [1u32, 2] {
        let count = bounded_count(k, steps, 2);
        let expected = if k == 1 {
            1 + steps
        } else {
            1 + steps + steps * (steps - 1) / 2
        };
        assert_eq!(count, expected, "Bounded{{{k}}} over {steps} steps");
        if k == 2 && count > 2_000 {
            // Keep the test short: enumerate k = 2 only on small programs.
            continue;
        }
        // Fork every schedule from one snapshot of the booted machine.
        let mut m = Machine::new(img.clone(), Config::new(2, 1)).expect("machine");
        m.add_window(WindowKind::Always);
        let snap = m.snapshot().expect("snapshot");
        let samples = [0, count / 3, count - 1];
        let mut outcomes = Vec::new();
        let mut sampled = Vec::new();
        for index in 0..count {
            m.restore(&snap).expect("restore");
            m.set_strategy(Strategy::Bounded {
                max_preemptions: k,
                steps,
                index,
            })
            .expect("strategy");
            let done = m
                .run_until(20_000_000, |m| {
                    m.ram().read_u64(0x9010).is_ok_and(|r| r != 0)
                })
                .expect("run");
            assert!(done, "schedule {index} never finished");
            outcomes.push(m.ram().read_u64(0x9010).expect("ram"));
            if samples.contains(&index) {
                sampled.push(m.digest().expect("digest"));
            }
        }
        assert_eq!(outcomes.len() as u64, count);
        let bugs = outcomes.iter().filter(|&&r| r == 2).count();
        assert!(
            bugs > 0,
            "one preemption between load and store loses an update"
        );
        // Schedule i run alone, on a fresh machine, is schedule i of the
        // enumeration, bit for bit (the strategy is installed at the same
        // point in both).
        for (n, index) in samples.into_iter().enumerate() {
            let mut alone = lost_update_with(
                &img,
                Strategy::Bounded {
                    max_preemptions: k,
                    steps,
                    index,
                },
            );
            let (r, digest) = lost_update(&mut alone);
            assert_eq!(r, outcomes[index as usize], "schedule {index}");
            assert_eq!(digest, sampled[n], "schedule {index}");
        }
    }
}

/// CPU 1 calls `f` in a loop; once it has, CPU 0 writes a 5-byte `jmp g`
/// over `f` one byte at a time (`rep movsb`).
const TORN: &str = r#"
.globl _start
_start:
    test %rdi, %rdi
    jnz cpu1
    mov $1, %eax
    mov $0x520, %dx
    out %eax, %dx
w:
    cmpq $0, 0x9000
    je w
    lea patch(%rip), %rsi
    lea f(%rip), %rdi
    mov $5, %ecx
    rep movsb
    movq $1, 0x9008
idle:
    pause
    jmp idle
cpu1:
    mov $0x8000, %rsp
l1:
    call f
    incq 0x9000
    jmp l1
f:
    mov $1, %eax
    ret
g:
    mov $2, %eax
    ret
patch:
    .byte 0xe9
    .long g - (f + 5)
"#;

fn finding(r: Result<bool, MachineError>) -> Option<(usize, Finding)> {
    match r {
        Err(MachineError::Crash(c)) => match &c.reason {
            CrashReason::Detected(f) => Some((c.vcpu, f.clone())),
            _ => panic!("not a detector: {c}"),
        },
        Err(e) => panic!("{e}"),
        Ok(_) => None,
    }
}

#[test]
fn a_fetch_of_a_half_written_site_is_a_torn_patch_site() {
    let img = common::asm_image("torn", TORN);
    let f = label(&img, "f");
    let mut hits = 0;
    for seed in 1..=16 {
        let mut m = Machine::new(img.clone(), Config::new(2, seed)).expect("machine");
        m.add_window(WindowKind::Always);
        let r = m.run_until(5_000_000, |m| m.ram().read_u64(0x9008) == Ok(1));
        if let Some((vcpu, f2)) = finding(r) {
            match f2 {
                Finding::TornPatchSite {
                    site,
                    written,
                    writer,
                    ..
                } => {
                    assert_eq!(site, f);
                    assert!((1..5).contains(&written), "{written}");
                    assert_eq!(writer, 0);
                    assert_eq!(vcpu, 1, "the fetching vCPU is reported");
                    hits += 1;
                }
                // vCPU 1 was inside f when the write began: that is the
                // stack detector's hazard, found first.
                Finding::StackHazard {
                    holder: 1, start, ..
                } => assert_eq!(start, f),
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(hits > 0, "no schedule fetched the site mid-write");
    // Coarse quanta never interleave inside the 5-byte write: silent.
    let mut m = Machine::new(img, Config::new(2, 1)).expect("machine");
    let r = m.run_until(50_000_000, |m| m.ram().read_u64(0x9008) == Ok(1));
    assert_eq!(finding(r), None);
}

#[test]
fn executing_a_site_the_host_scribbled_on_is_foreign_bytes() {
    let img = common::asm_image("foreign", TORN);
    let f = label(&img, "f");
    let mut m = Machine::new(img, Config::new(2, 1)).expect("machine");
    let done = m.run_until(50_000_000, |m| m.ram().read_u64(0x9008) == Ok(1));
    assert_eq!(finding(done), None);
    // Neither `mov $1, %eax` nor `jmp g`.
    m.host_write(f + 1, &[0x90, 0x90]).expect("ram");
    let r = m.run_for(1_000_000).map(|_| true);
    match finding(r) {
        Some((1, Finding::ForeignBytes { site, .. })) => assert_eq!(site, f),
        other => panic!("{other:?}"),
    }
}

/// CPU 1 calls `victim`, which calls `inner`, which spins: a return
/// address inside `victim` stays on CPU 1's stack. CPU 0 then writes a
/// 5-byte site over `victim`'s entry.
const HAZARD: &str = r#"
.globl _start
_start:
    test %rdi, %rdi
    jnz cpu1
    mov $1, %eax
    mov $0x520, %dx
    out %eax, %dx
w:
    cmpq $0, 0x9000
    je w
    movl $0x90909090, victim(%rip)
    movb $0x90, victim+4(%rip)
    movq $1, 0x9008
idle:
    pause
    jmp idle
cpu1:
    mov $0x8000, %rsp
    xor %ebp, %ebp
    call victim
victim:
    push %rbp
    mov %rsp, %rbp
    call inner
    pop %rbp
    ret
    nop
inner:
    push %rbp
    mov %rsp, %rbp
spin:
    incq 0x9000
    jmp spin
"#;

#[test]
fn writing_a_function_a_vcpu_will_return_into_is_a_stack_hazard() {
    let img = common::asm_image("hazard", HAZARD);
    let victim = label(&img, "victim");
    let mut m = Machine::new(img, Config::new(2, 1)).expect("machine");
    let r = m.run_until(50_000_000, |m| m.ram().read_u64(0x9008) == Ok(1));
    match finding(r) {
        Some((
            0,
            Finding::StackHazard {
                site,
                holder,
                addr,
                interrupted,
                start,
                ..
            },
        )) => {
            assert_eq!(site, victim);
            assert_eq!(holder, 1);
            assert!(!interrupted, "a return address, found by the frame walk");
            assert_eq!(start, victim);
            assert!(addr > victim && addr < victim + 16, "{addr:#x}");
        }
        other => panic!("{other:?}"),
    }
}

/// A payload table of the hypervisor's shape (public/livepatch.h) with one
/// slot; CPU 0 copies `mov $1, %eax; ret` into the payload area, publishes
/// it APPLIED, and once CPU 1 has called it 10 times publishes the state
/// at 0x9020 (LOADED = reverted, or FREED = unloaded).
const PAYLOAD: &str = r#"
.globl _start
_start:
    test %rdi, %rdi
    jnz cpu1
    movl $0xb8, 0x1000000
    movl $1, 0x1000001
    movb $0xc3, 0x1000005
    movl $3, livepatch_regions+8+32
    incq livepatch_regions
    mov $1, %eax
    mov $0x520, %dx
    out %eax, %dx
w:
    cmpq $10, 0x9000
    jb w
    mov 0x9020, %eax
    movl %eax, livepatch_regions+8+32
    incq livepatch_regions
    movq $1, 0x9008
idle:
    pause
    jmp idle
cpu1:
    mov $0x8000, %rsp
    mov $0x1000000, %rax
l1:
    call *%rax
    mov $0x1000000, %rax
    incq 0x9000
    jmp l1
    .data
    .p2align 12
.globl livepatch_regions
livepatch_regions:
    .quad 0
    .quad 0x1000000, 0x1000010, 0x1000000, 0x1001000
    .long 0, 0
    .quad 0
    .ascii "toy"
    .fill 45, 1, 0
    .fill 31 * 96, 1, 0
"#;

#[test]
fn execution_in_a_reverted_or_unloaded_payload_is_named() {
    let img = common::asm_image("payload", PAYLOAD);
    for (state, want) in [(1u64, "exec-after-revert"), (4, "exec-after-unload")] {
        let mut m = Machine::new(img.clone(), Config::new(2, 1)).expect("machine");
        m.host_write(0x9020, &state.to_le_bytes()).expect("ram");
        let r = m.run_until(50_000_000, |_| false);
        match finding(r) {
            Some((1, f)) => {
                assert_eq!(f.name(), want);
                match f {
                    Finding::ExecInactivePayload { payload, addr }
                    | Finding::ExecFreedPayload { payload, addr } => {
                        assert_eq!(payload, "toy");
                        assert_eq!(addr, 0x1000000);
                    }
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("state {state}: {other:?}"),
        }
    }
    // Applied throughout: silent.
    let mut m = Machine::new(img, Config::new(2, 1)).expect("machine");
    m.host_write(0x9020, &3u64.to_le_bytes()).expect("ram");
    assert_eq!(finding(m.run_for(20_000_000).map(|_| true)), None);
}

/// An IDT whose NMI handler counts into `nmi_count` (public/platform.h)
/// only when 0x9000 holds 1.
const NMI: &str = r#"
.globl _start
_start:
    lea stack_top(%rip), %rsp
    lgdt gdtr(%rip)
    pushq $0x08
    lea flat(%rip), %rax
    pushq %rax
    lretq
flat:
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
spin:
    incq 0x9008
    jmp spin
nmi:
    cmpq $1, 0x9000
    jne 1f
    lock incq nmi_count
1:
    iretq
    .data
    .p2align 4
idtr:
    .word 4095
    .quad idt
gdtr:
    .word 23
    .quad gdt
gdt:
    .quad 0, 0x00af9a000000ffff, 0x00cf92000000ffff
.globl nmi_count, mce_count
nmi_count:
    .quad 0
mce_count:
    .quad 0
    .p2align 12
idt:
    .fill 4096, 1, 0
    .fill 4096, 1, 0
stack_top:
"#;

#[test]
fn an_nmi_delivered_and_not_handled_is_lost() {
    let img = common::asm_image("nmi", NMI);
    for counts in [true, false] {
        let mut m = Machine::new(img.clone(), Config::new(1, 1)).expect("machine");
        m.host_write(0x9000, &u64::from(counts).to_le_bytes())
            .expect("ram");
        m.run_for(100_000).expect("run");
        m.inject_now(0, Irq::Nmi).expect("inject");
        let r = m.run_for(100_000).map(|_| true);
        match (counts, finding(r)) {
            (true, None) => {}
            (
                false,
                Some((
                    0,
                    Finding::LostEvent {
                        irq: Irq::Nmi,
                        injected: 1,
                        delivered: 1,
                        handled: 0,
                    },
                )),
            ) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn triggers_fire_across_vcpus_on_the_nth_visit_and_on_writes() {
    let img = common::asm_image("trig", TORN);
    let f = label(&img, "f");
    // When vCPU 1 reaches f for the 3rd time, break; its count of calls
    // (0x9000) is then 2.
    let mut m = Machine::new(img.clone(), Config::new(2, 1)).expect("machine");
    m.arm(Trigger {
        when: When::Reach {
            vcpu: Some(1),
            addr: f,
            visit: Visit::Nth(3),
        },
        action: Action::Break,
    })
    .expect("arm");
    m.run_for(50_000_000).expect("run");
    assert!(m.broke());
    assert_eq!(m.ram().read_u64(0x9000), Ok(2));
    // Watchpoint: the first write of 0x9008 (by vCPU 0, after patching)
    // breaks the run before the host sees it done.
    let mut m = Machine::new(img.clone(), Config::new(2, 1)).expect("machine");
    m.arm(Trigger {
        when: When::Access {
            vcpu: None,
            start: 0x9008,
            end: 0x9010,
            write: true,
            visit: Visit::Every,
        },
        action: Action::Break,
    })
    .expect("arm");
    m.run_for(50_000_000).expect("run");
    assert!(m.broke(), "the watchpoint fired");
    let log = m.schedule_log().expect("log");
    let fired = log
        .entries
        .iter()
        .find_map(|e| match e {
            emulator::log::Entry::Fired { fired, .. } => Some(*fired),
            _ => None,
        })
        .expect("a fired entry");
    assert_eq!(fired.vcpu, 0);
    // Cross-vCPU: vCPU 1 reaching f injects an NMI into vCPU 0 (no IDT:
    // the delivery is a triple fault on vCPU 0, which proves the target).
    let mut m = Machine::new(img, Config::new(2, 1)).expect("machine");
    m.arm(Trigger {
        when: When::Reach {
            vcpu: Some(1),
            addr: f,
            visit: Visit::Nth(1),
        },
        action: Action::Inject {
            vcpu: 0,
            irq: Irq::Nmi,
        },
    })
    .expect("arm");
    match m.run_for(50_000_000) {
        Err(MachineError::Crash(c)) => {
            assert_eq!(c.vcpu, 0);
            assert!(
                matches!(c.reason, CrashReason::TripleFault { vector: 2, .. }),
                "{c}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_held_vcpu_still_takes_an_nmi_and_stays_held() {
    let img = common::asm_image("held_nmi", NMI);
    let mut m = Machine::new(img, Config::new(1, 1)).expect("machine");
    m.host_write(0x9000, &1u64.to_le_bytes()).expect("ram");
    m.run_for(100_000).expect("run");
    let until = m.now() + 1_000_000;
    m.hold_vcpu(0, until).expect("hold");
    let spins = m.ram().read_u64(0x9008).expect("ram");
    m.inject_now(0, Irq::Nmi).expect("inject");
    m.run_for(500_000).expect("run");
    let s = m.vcpu(0).expect("vcpu");
    assert_eq!(s.nmis_delivered, 1);
    assert_eq!(m.read_symbol_u64("nmi_count", 0).expect("count"), 1);
    assert_eq!(
        m.ram().read_u64(0x9008),
        Ok(spins),
        "the held vCPU ran only its handler"
    );
    m.run_for(1_000_000).expect("run");
    assert!(m.ram().read_u64(0x9008).expect("ram") > spins, "released");
}

#[test]
fn registers_of_any_vcpu_can_be_read() {
    let img = common::asm_image("regs", TORN);
    let mut m = Machine::new(img, Config::new(2, 1)).expect("machine");
    m.run_for(1_000_000).expect("run");
    let r = m.regs(1).expect("regs");
    assert!(
        (0x7f00..=0x8000).contains(&r.rsp),
        "vCPU 1 runs on its 0x8000 stack"
    );
    assert!(m.regs(2).is_err());
}

#[test]
fn a_log_replays_to_the_same_digest_and_a_tampered_one_diverges() {
    let img = common::asm_image("replay", LOST_UPDATE);
    let record = |img: &Image| {
        let mut m = Machine::new(img.clone(), Config::new(2, 4)).expect("machine");
        m.run_for(200_000).expect("run");
        m.add_window(WindowKind::Always);
        m.inject_now(1, Irq::Vector(0x40)).expect("inject");
        m.run_for(3_000).expect("run");
        m.ram().read_u64(0x9000).expect("ram");
        m.host_write(0x9100, b"host input").expect("write");
        m.hold_vcpu(1, m.now() + 5_000).expect("hold");
        m.run_for(20_000).expect("run");
        m.schedule_log().expect("log")
    };
    let log = record(&img);
    let json = log.to_json();
    let parsed = emulator::log::ScheduleLog::from_json(&json).expect("parse");
    assert_eq!(parsed, log);
    let mut fresh = Machine::new(img.clone(), Config::new(2, 4)).expect("machine");
    let digest = fresh.replay(&parsed, &|_| None).expect("replay");
    let end = log.entries.last().expect("entries");
    assert_eq!(
        Some(&digest),
        match end {
            emulator::log::Entry::End { digest, .. } => Some(digest),
            _ => None,
        }
    );
    // Move the hold to the other vCPU: the replay leaves the recorded run
    // at the run after it, and says so.
    let mut tampered = log.clone();
    let (at, _) = tampered
        .entries
        .iter()
        .enumerate()
        .find(|(_, e)| matches!(e, emulator::log::Entry::Hold { .. }))
        .expect("a hold");
    if let emulator::log::Entry::Hold { vcpu, .. } = &mut tampered.entries[at] {
        *vcpu = 0;
    }
    let mut fresh = Machine::new(img, Config::new(2, 4)).expect("machine");
    match fresh.replay(&tampered, &|_| None) {
        Err(MachineError::Diverged(d)) => assert_eq!(d.index, at + 1, "{d}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn triggers_open_and_close_a_window_between_two_events() {
    let img = common::asm_image("between", TORN);
    let f = label(&img, "f");
    let g = label(&img, "g");
    let cfg = Config {
        detectors: false,
        ..Config::new(2, 1)
    };
    let mut m = Machine::new(img, cfg).expect("machine");
    // From vCPU 1's first call of f until the patch jumps it to g.
    for (addr, action, visit) in [
        (f, Action::OpenWindow, Visit::Nth(1)),
        (g, Action::CloseWindow, Visit::Nth(1)),
    ] {
        m.arm(Trigger {
            when: When::Reach {
                vcpu: Some(1),
                addr,
                visit,
            },
            action,
        })
        .expect("arm");
    }
    let done = m
        .run_until(50_000_000, |m| m.ram().read_u64(0x9008) == Ok(1))
        .expect("run");
    assert!(done);
    m.run_for(1_000_000).expect("run");
    let opened = m.stats().fine_steps;
    assert!(opened > 0, "the window was open between the two events");
    // Closed at g: the machine runs coarse again.
    m.run_for(2_000_000).expect("run");
    assert_eq!(m.stats().fine_steps, opened, "closed at g");
}
