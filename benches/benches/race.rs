//! The race engine's throughput: schedules explored per second from one
//! snapshot, "restore → APPLY `xen_hello_world` on 4 vCPUs → one NMI →
//! run to APPLIED → detectors checked", with the NMI
//! - on another vCPU when the patch writer starts, the schedule drawn by
//!   the Random strategy in a window over `.text.unpatchable` (every
//!   round there instruction by instruction);
//! - at a chosen instruction of the writer, on a chosen vCPU (the sweep
//!   family's schedules: `testbed explore --strategy sweep`);
//!
//! and the cost of the restore alone after such a run. The dirty pages
//! and the virtual time of one run are printed once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use emulator::livepatch::{Action, Client, STATE_APPLIED};
use emulator::trigger::{Action as Do, Trigger, Visit, When};
use emulator::window::WindowKind;
use emulator::{Config, Image, Irq, Machine, Snapshot, Strategy};

const HELLO: &str = "xen_hello_world";

fn hello() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test")
        .join(format!("{HELLO}.livepatch"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

/// 4 vCPUs, booted, hello uploaded.
fn uploaded() -> Machine {
    let img = Image::load(&Image::default_path()).expect("run `make image` first");
    let mut m = Machine::new(img, Config::new(4, 1)).expect("machine");
    m.run_for(5_000_000).expect("boot");
    let rc = Client::new(&mut m).upload(HELLO, &hello()).expect("upload");
    assert_eq!(rc, 0);
    m
}

/// Applies hello to the end and checks the detectors.
fn apply_checked(m: &mut Machine) {
    let (rc, st) = Client::new(m)
        .action_and_settle(HELLO, Action::Apply, 0, 0)
        .expect("apply");
    assert_eq!(rc, 0);
    assert!(matches!(st, Some(Ok(s)) if s.state == STATE_APPLIED));
    m.check_events().expect("detectors");
}

/// [`uploaded`], and a window over `.text.unpatchable`.
fn prepared() -> (Machine, Snapshot) {
    let mut m = uploaded();
    let start = m.symbol("__unpatchable_start").expect("start");
    let end = m.symbol("__unpatchable_end").expect("end");
    m.add_window(WindowKind::Range { start, end });
    let snap = m.snapshot().expect("snapshot");
    (m, snap)
}

/// One explored schedule: returns the virtual ns the apply took.
fn one_schedule(m: &mut Machine, snap: &Snapshot, seed: u64) -> u64 {
    m.restore(snap).expect("restore");
    m.set_strategy(Strategy::Random { seed }).expect("strategy");
    let writer = m.symbol("arch_livepatch_apply").expect("writer");
    m.arm(Trigger {
        when: When::Reach {
            vcpu: None,
            addr: writer,
            visit: Visit::Nth(1),
        },
        action: Do::Inject {
            vcpu: 1 + (seed % 3) as usize,
            irq: Irq::Nmi,
        },
    })
    .expect("arm");
    let t0 = m.now();
    apply_checked(m);
    m.now() - t0
}

/// The writer's vCPU and its retired count when it reaches the writer,
/// from one probe run (without the window).
fn writer_start(m: &mut Machine, snap: &Snapshot) -> (usize, u64) {
    m.restore(snap).expect("restore");
    let writer = m.symbol("arch_livepatch_apply").expect("writer");
    let id = m
        .arm(Trigger {
            when: When::Reach {
                vcpu: None,
                addr: writer,
                visit: Visit::Nth(1),
            },
            action: Do::Note,
        })
        .expect("arm");
    Client::new(m)
        .action_and_settle(HELLO, Action::Apply, 0, 0)
        .expect("apply");
    let log = m.schedule_log().expect("log");
    log.entries
        .iter()
        .find_map(|e| match e {
            emulator::log::Entry::Fired { fired, .. } if fired.trigger == id => {
                Some((fired.vcpu, fired.retired))
            }
            _ => None,
        })
        .expect("the writer ran")
}

/// One sweep-style schedule: NMI into vCPU `i % 4` when the writer has
/// retired `i / 4` instructions past its start.
fn one_point(m: &mut Machine, snap: &Snapshot, (of, start): (usize, u64), i: u64) {
    m.restore(snap).expect("restore");
    m.arm(Trigger {
        when: When::Retired {
            vcpu: of,
            count: start + i / 4,
        },
        action: Do::Inject {
            vcpu: (i % 4) as usize,
            irq: Irq::Nmi,
        },
    })
    .expect("arm");
    apply_checked(m);
}

fn explore(c: &mut Criterion) {
    let (mut m, snap) = prepared();
    let before = m.stats();
    let virt = one_schedule(&mut m, &snap, 0);
    let dirty = m.ram().dirty_count();
    let after = m.stats();
    let st = emulator::machine::Stats {
        slots: after.slots - before.slots,
        instructions: after.instructions - before.instructions,
        rounds: after.rounds - before.rounds,
        fine_steps: after.fine_steps,
    };
    eprintln!(
        "one schedule: {:.1} virtual us, {dirty} dirty pages, {} fine steps, {} slots, {} instructions",
        virt as f64 / 1e3,
        st.fine_steps,
        st.slots,
        st.instructions
    );
    let mut g = c.benchmark_group("race");
    g.sample_size(20).measurement_time(Duration::from_secs(6));
    let mut seed = 0;
    g.bench_function("explore_apply_hello_4_vcpus_one_nmi", |b| {
        b.iter(|| {
            seed += 1;
            one_schedule(&mut m, &snap, seed)
        })
    });
    {
        let mut m = uploaded();
        let snap = m.snapshot().expect("snapshot");
        let writer = writer_start(&mut m, &snap);
        let mut i = 0;
        g.bench_function("explore_apply_hello_4_vcpus_nmi_at_writer_insn", |b| {
            b.iter(|| {
                i = (i + 1) % 2_400;
                one_point(&mut m, &snap, writer, i)
            })
        });
    }
    g.bench_function("restore_after_apply_run", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                one_schedule(&mut m, &snap, i);
                let t = Instant::now();
                m.restore(&snap).expect("restore");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, explore);
criterion_main!(benches);
