//! Measures the two ways to run N vCPUs on Unicorn, for ARCHITECTURE.md:
//! one engine whose CPU context is switched per slot, or one engine per
//! vCPU sharing RAM. Run: `cargo run --release --example engine_choice`.

use std::time::Instant;

use emulator::engine::SavedContext;
use emulator::ram::RamBlock;
use unicorn_engine::{Arch, Mode, Prot, RegisterX86, Unicorn};

const RAM: u64 = 0x200_0000;
const CODE: u64 = 0x10_0000;
const QUANTUM: usize = 10_000;
const SLOTS: usize = 4_000;

/// A loop touching a spread of code: 512 blocks of `add; dec; jnz`-like
/// work, so that translation cost is visible.
fn code() -> Vec<u8> {
    let mut c = Vec::new();
    for _ in 0..512 {
        // add rax, 1 ; inc rbx ; jmp +0
        c.extend_from_slice(&[0x48, 0x83, 0xc0, 0x01, 0x48, 0xff, 0xc3, 0xeb, 0x00]);
    }
    // jmp back to start
    let back = -(c.len() as i32 + 5);
    c.push(0xe9);
    c.extend_from_slice(&back.to_le_bytes());
    c
}

fn engine(ram: &RamBlock) -> Unicorn<'static, ()> {
    let mut u = Unicorn::new(Arch::X86, Mode::MODE_64).expect("open");
    // SAFETY: the block outlives every engine of this program (dropped last).
    unsafe { u.mem_map_ptr(0, RAM, Prot::ALL, ram.as_ptr().cast()) }.expect("map");
    u.reg_write(RegisterX86::RIP, CODE).expect("rip");
    u
}

fn main() {
    let mut ram = RamBlock::new(RAM as usize);
    ram.write(CODE, &code()).expect("code");
    // The floor of single-stepping: one counted emu_start per instruction.
    let mut u = engine(&ram);
    let steps = 1_000_000;
    let t = Instant::now();
    for _ in 0..steps {
        let rip = u.reg_read(RegisterX86::RIP).expect("rip");
        u.emu_start(rip, 0, 0, 1).expect("step");
    }
    let per = t.elapsed().as_secs_f64() / f64::from(steps) * 1e9;
    println!(
        "single step: {per:.0} ns per emu_start(count = 1), at most {:.1} M insn/s",
        1e3 / per
    );
    for n in [4usize, 64] {
        // One engine, contexts switched.
        let mut u = engine(&ram);
        let mut ctxs: Vec<SavedContext> = (0..n)
            .map(|_| {
                let mut c = SavedContext::new(&u).expect("ctx");
                c.save(&u).expect("save");
                c
            })
            .collect();
        let t = Instant::now();
        let mut loaded = 0;
        for s in 0..SLOTS {
            let v = s % n;
            if v != loaded {
                ctxs[loaded].save(&u).expect("save");
                ctxs[v].restore(&u).expect("restore");
                loaded = v;
            }
            let rip = u.reg_read(RegisterX86::RIP).expect("rip");
            u.emu_start(rip, 0, 0, QUANTUM).expect("run");
        }
        let one = t.elapsed();
        // One engine per vCPU.
        let t0 = Instant::now();
        let mut engines: Vec<_> = (0..n).map(|_| engine(&ram)).collect();
        let create = t0.elapsed();
        let t = Instant::now();
        for s in 0..SLOTS {
            let u = &mut engines[s % n];
            let rip = u.reg_read(RegisterX86::RIP).expect("rip");
            u.emu_start(rip, 0, 0, QUANTUM).expect("run");
        }
        let many = t.elapsed();
        let insns = (SLOTS * QUANTUM) as f64;
        println!(
            "{n:>2} vCPUs: one engine + context switch {:.0} M insn/s; \
             engine per vCPU {:.0} M insn/s (+{:.1} ms to create {n} engines)",
            insns / one.as_secs_f64() / 1e6,
            insns / many.as_secs_f64() / 1e6,
            create.as_secs_f64() * 1e3
        );
    }
}
