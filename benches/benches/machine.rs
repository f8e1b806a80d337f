//! Speed of the emulated machine running mini-xen: guest instructions per
//! second (coarse quanta; single-step everywhere, counted by Unicorn; and
//! single-step inside a range window, counted by the step hook) and host
//! time from power-on until every vCPU is idle.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use emulator::{Config, Image, Machine};

fn image() -> Image {
    Image::load(&Image::default_path()).expect("run `make image` first")
}

/// A machine with CPU-bound guests, booted and warmed up.
fn busy_machine(vcpus: usize) -> Machine {
    let mut cfg = Config::new(vcpus, 1);
    cfg.busy_guests = true;
    let mut m = Machine::new(image(), cfg).expect("machine");
    m.run_for(5_000_000).expect("boot");
    m
}

fn instructions(c: &mut Criterion) {
    let mut g = c.benchmark_group("guest_instructions");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for vcpus in [1usize, 4, 64] {
        for mode in ["coarse", "single_step", "window_step"] {
            let mut m = busy_machine(vcpus);
            match mode {
                "single_step" => m.set_single_step(true),
                "window_step" => {
                    // The guests' busy loop.
                    m.add_symbol_window("guest_start").expect("guest_start");
                }
                _ => {}
            }
            let span = if mode == "coarse" { 2_000_000 } else { 20_000 };
            // The guests never stop, so each iteration just runs on; the
            // instruction count per span is measured once (it varies little).
            let before = m.stats().instructions;
            m.run_for(span).expect("probe run");
            let per_run = m.stats().instructions - before;
            g.throughput(Throughput::Elements(per_run));
            g.bench_function(BenchmarkId::new(mode, vcpus), |b| {
                b.iter(|| m.run_for(span).expect("run"))
            });
        }
    }
    g.finish();
}

fn boot_to_idle(c: &mut Criterion) {
    let mut g = c.benchmark_group("boot_to_all_idle");
    g.sample_size(10);
    let img = image();
    for vcpus in [4usize, 64] {
        g.bench_function(BenchmarkId::from_parameter(vcpus), |b| {
            b.iter(|| {
                let mut m = Machine::new(img.clone(), Config::new(vcpus, 1)).expect("machine");
                let idle = m.run_until(1_000_000_000, Machine::all_idle).expect("boot");
                assert!(idle, "never idle");
            })
        });
    }
    g.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(20);
    let mut m = busy_machine(4);
    let snap = m.snapshot().expect("snapshot");
    g.bench_function("take_4_vcpus", |b| {
        b.iter(|| m.snapshot().expect("snapshot"))
    });
    let mut reused = m.snapshot().expect("snapshot");
    g.bench_function("take_into_4_vcpus", |b| {
        b.iter(|| m.snapshot_into(&mut reused).expect("snapshot"))
    });
    g.bench_function("restore_4_vcpus", |b| {
        b.iter(|| m.restore(&snap).expect("restore"))
    });
    g.finish();
}

criterion_group!(benches, instructions, boot_to_idle, snapshots);
criterion_main!(benches);
