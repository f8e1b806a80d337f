//! Code written at run time by one vCPU is seen by every other vCPU at once.

mod common;

use emulator::{Config, Machine};

/// CPU 1 calls `f` in a loop and stores its result at 0x9000; CPU 0 waits
/// for the first result, rewrites `f` to return 2, then idles.
const CROSS_MODIFY: &str = r#"
.globl _start
_start:
    test %rdi, %rdi
    jnz cpu1
    mov $1, %eax
    mov $0x520, %dx
    out %eax, %dx
wait:
    cmpq $1, 0x9000
    jne wait
    movb $0xb8, f(%rip)
    movl $2, f+1(%rip)
    movq $1, 0x9008
idle:
    pause
    jmp idle
cpu1:
    mov $0x8000, %rsp
loop1:
    call f
    mov %rax, 0x9000
    incq 0x9010
    jmp loop1
f:
    mov $1, %eax
    ret
"#;

#[test]
fn a_code_write_by_one_vcpu_is_seen_by_the_others() {
    let img = common::asm_image("cross_modify", CROSS_MODIFY);
    for seed in [1, 2, 3] {
        // vCPU 1 runs the very code vCPU 0 rewrites: a stack hazard by
        // definition, and not what this test is about.
        let cfg = Config {
            detectors: false,
            ..Config::new(2, seed)
        };
        let mut m = Machine::new(img.clone(), cfg).expect("machine");
        let patched = m
            .run_until(50_000_000, |m| m.ram().read_u64(0x9008) == Ok(1))
            .expect("run");
        assert!(patched, "CPU 0 never patched f");
        let calls = m.ram().read_u64(0x9010).expect("ram");
        m.run_for(1_000_000).expect("run");
        assert!(
            m.ram().read_u64(0x9010).expect("ram") > calls,
            "CPU 1 stopped"
        );
        assert_eq!(
            m.ram().read_u64(0x9000),
            Ok(2),
            "seed {seed}: stale code on CPU 1"
        );
    }
}

/// A restore from a snapshot that is not the latest copies all of RAM, and
/// code it changes back must lose its translations too (not only the
/// pages written since the latest): after a restore to before the patch,
/// CPU 1 must run the old `f` again (returning 1, so that CPU 0 patches
/// again); a stale translation would return 2 forever.
#[test]
fn restoring_an_older_snapshot_brings_its_code_back() {
    let img = common::asm_image("cross_modify_restore", CROSS_MODIFY);
    let cfg = Config {
        detectors: false,
        ..Config::new(2, 1)
    };
    let mut m = Machine::new(img, cfg).expect("machine");
    let before = m.snapshot().expect("snapshot");
    let patched = |m: &Machine| m.ram().read_u64(0x9008) == Ok(1);
    assert!(m.run_until(50_000_000, patched).expect("run"));
    m.run_for(1_000_000).expect("run");
    assert_eq!(m.ram().read_u64(0x9000), Ok(2));
    // The latest snapshot is now this one: the older one is a full copy.
    let _after = m.snapshot().expect("snapshot");
    m.run_for(1_000_000).expect("run");
    m.restore(&before).expect("restore");
    assert!(
        m.run_until(50_000_000, patched).expect("run"),
        "CPU 1 ran the patched f from before the restore"
    );
}
