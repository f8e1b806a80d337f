//! What the live-patch stack check costs: APPLY of `xen_hello_world` on
//! 1, 4, 16 and 64 CPUs with 0, 1 and 2 vCPUs asleep in the hypervisor
//! (paging requests of d1 and d2 that dom0 has not answered), once with
//! `livepatch-stack-check=off` and once with `=on`. The master's guest
//! instructions from the entry of `livepatch_stack_check` to the entry
//! of `apply_payload` (the first write follows), taken from the vCPU's
//! retired count when each trigger fired (the triggers only record: a
//! hold of 0 ns), minus the same with the check off, are the walk. The
//! machine's clock runs at one instruction per ns of each vCPU that runs
//! (a round of Q ns gives every vCPU at most Q instructions), so that is
//! also about its virtual time in ns. Apply latency is ACTION until GET
//! says APPLIED, polled every 10 µs of virtual time, as
//! `benches/livepatch.rs` measures it.
//!
//! `cargo run --release -p emulator --example stack_check_cost`
//! (needs `make build`). Deterministic: the same numbers on every run.

use std::path::PathBuf;

use emulator::hypercall::{nr, Guest, XENMEM_PAGING_REQUEST};
use emulator::livepatch::{Action, Client, STATE_APPLIED};
use emulator::log::Entry;
use emulator::trigger::{Action as Do, Trigger, Visit, When};
use emulator::{Config, Image, Machine};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const HELLO: &str = "xen_hello_world";

/// (master's instructions from the check to the first write, apply ns).
fn measure(cpus: usize, sleepers: u32, mode: &str) -> R<(u64, u64)> {
    let image = Image::load(&Image::default_path())?;
    let mut cfg = Config::new(cpus, 1);
    cfg.cmdline = format!("livepatch-stack-check={mode}");
    let mut m = Machine::new(image, cfg)?;
    m.run_for(5_000_000)?;
    for d in 1..=sleepers {
        Guest::new(&mut m, d).post(nr::MEMORY_OP, [XENMEM_PAGING_REQUEST, 0, 0, 0, 0])?;
    }
    m.run_for(2_000_000)?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test/xen_hello_world.livepatch");
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: {e} (run `make build`)", path.display()))?;
    let rc = Client::new(&mut m).upload(HELLO, &bytes)?;
    assert_eq!(rc, 0, "upload");
    for sym in ["livepatch_stack_check", "apply_payload"] {
        let addr = m.symbol(sym).ok_or(format!("no symbol {sym}"))?;
        m.arm(Trigger {
            when: When::Reach {
                vcpu: None,
                addr,
                visit: Visit::Nth(1),
            },
            action: Do::Hold { vcpu: 0, ns: 0 },
        })?;
    }
    let t0 = m.now();
    let rc = Client::new(&mut m).action(HELLO, Action::Apply, 0, 0)?;
    assert_eq!(rc, 0, "action");
    loop {
        m.run_for(10_000)?;
        let st = Client::new(&mut m).get(HELLO)?;
        if matches!(st, Ok(s) if s.state == STATE_APPLIED && s.rc == 0) {
            break;
        }
    }
    let apply = m.now() - t0;
    let fired: Vec<u64> = m
        .schedule_log()?
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fired { fired, .. } => Some(fired.retired),
            _ => None,
        })
        .collect();
    assert_eq!(fired.len(), 2, "both triggers fired once");
    Ok((fired[1] - fired[0], apply))
}

fn main() -> R<()> {
    println!("| CPUs | sleeping vCPUs | walk: instructions (~ns) | apply, check on | share |");
    println!("|---|---|---|---|---|");
    for cpus in [1usize, 4, 16, 64] {
        for sleepers in [0u32, 1, 2] {
            let (off, _) = measure(cpus, sleepers, "off")?;
            let (on, apply) = measure(cpus, sleepers, "on")?;
            let insn = on.saturating_sub(off);
            println!(
                "| {cpus} | {sleepers} | {insn} | {:.0} µs | {:.1} % |",
                apply as f64 / 1000.0,
                100.0 * insn as f64 / apply as f64
            );
        }
    }
    Ok(())
}
