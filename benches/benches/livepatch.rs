//! Cost of live patching in the testbed: host time to upload
//! `xen_hello_world`, and apply latency (ACTION issued until the payload is
//! APPLIED) in host time, for 1, 4, 16 and 64 vCPUs. The virtual-time
//! latency of each apply is printed once per vCPU count.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use emulator::livepatch::{Action, Client, STATE_APPLIED};
use emulator::{Config, Image, Machine};

const HELLO: &str = "xen_hello_world";

fn hello() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../payloads/build/test")
        .join(format!("{HELLO}.livepatch"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

fn booted(vcpus: usize) -> Machine {
    let img = Image::load(&Image::default_path()).expect("run `make image` first");
    let mut m = Machine::new(img, Config::new(vcpus, 1)).expect("machine");
    m.run_for(5_000_000).expect("boot");
    m
}

fn applied(m: &mut Machine) -> bool {
    matches!(Client::new(m).get(HELLO), Ok(Ok(s)) if s.state == STATE_APPLIED && s.rc == 0)
}

/// Applies hello and runs until it is APPLIED; returns virtual ns taken.
fn apply(m: &mut Machine) -> u64 {
    let t0 = m.now();
    let rc = Client::new(m)
        .action(HELLO, Action::Apply, 0, 0)
        .expect("action");
    assert_eq!(rc, 0);
    // Poll in 10 µs steps of virtual time; GET itself is a hypercall.
    while !applied(m) {
        m.run_for(10_000).expect("run");
    }
    m.now() - t0
}

fn upload(c: &mut Criterion) {
    let bytes = hello();
    let mut m = booted(4);
    let snap = m.snapshot().expect("snapshot");
    c.bench_function("upload_hello_world", |b| {
        b.iter(|| {
            m.restore(&snap).expect("restore");
            let rc = Client::new(&mut m).upload(HELLO, &bytes).expect("upload");
            assert_eq!(rc, 0);
        })
    });
}

fn apply_latency(c: &mut Criterion) {
    let bytes = hello();
    let mut g = c.benchmark_group("apply_hello_world");
    g.sample_size(10);
    for vcpus in [1usize, 4, 16, 64] {
        let mut m = booted(vcpus);
        let rc = Client::new(&mut m).upload(HELLO, &bytes).expect("upload");
        assert_eq!(rc, 0);
        let snap = m.snapshot().expect("snapshot");
        let virt = apply(&mut m);
        eprintln!(
            "apply on {vcpus} vCPUs: {:.1} virtual us",
            virt as f64 / 1e3
        );
        g.bench_function(BenchmarkId::from_parameter(vcpus), |b| {
            b.iter(|| {
                m.restore(&snap).expect("restore");
                apply(&mut m)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, upload, apply_latency);
criterion_main!(benches);
