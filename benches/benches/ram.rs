//! Guest RAM with dirty tracking, 64 MiB as in the machine: restore after
//! N dirty pages (N = 10, 100, 1000, scattered) against the full copy the
//! machine used to do, refresh of a snapshot after N dirty pages, and the
//! cost of the first write to a write-protected page (a SIGSEGV, the
//! handler and an `mprotect`) against a host write that unprotects it
//! directly.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use emulator::ram::{RamBlock, PAGE_SIZE};

const RAM: usize = 64 << 20;

/// A 64 MiB block with every page written (no zero pages left).
fn filled() -> RamBlock {
    let mut b = RamBlock::new(RAM);
    let pattern: Vec<u8> = (0..RAM).map(|i| (i * 31 + i / PAGE_SIZE) as u8).collect();
    b.write(0, &pattern).expect("fill");
    b
}

/// The `i`-th of a scattered sequence of distinct pages (7919 is prime, so
/// odd, so coprime with the power-of-two page count), shifted by `round`.
fn page(pages: usize, round: u64, i: usize) -> usize {
    (i * 7919 + round as usize) % pages
}

/// A store as the engine's: through the pointer, faulting if protected.
fn raw_store(b: &mut RamBlock, offset: usize, v: u8) {
    assert!(offset < b.len());
    // SAFETY: inside the mapping; `&mut` excludes slices of it; a
    // protected page faults and the tracking handler unprotects it.
    unsafe { b.as_ptr().add(offset).write_volatile(v) }
}

fn dirty(b: &mut RamBlock, n: usize, round: u64) {
    for i in 0..n {
        let p = page(b.pages(), round, i);
        raw_store(b, p * PAGE_SIZE + 8, round as u8);
    }
}

fn restore(c: &mut Criterion) {
    let mut g = c.benchmark_group("ram_restore_64MiB");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    let mut b = filled();
    let snap = b.snapshot().expect("snapshot");
    for n in [10usize, 100, 1000] {
        g.bench_with_input(BenchmarkId::new("dirty_pages", n), &n, |bench, &n| {
            bench.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for round in 0..iters {
                    dirty(&mut b, n, round);
                    let t0 = Instant::now();
                    b.restore_from(&snap).expect("restore");
                    t += t0.elapsed();
                }
                t
            })
        });
    }
    let mut b2 = filled();
    // Two versions of the same contents: alternating between them, every
    // restore is a full one (unprotect, copy 64 MiB, protect).
    let two = [
        b2.snapshot().expect("snapshot"),
        b2.snapshot().expect("snapshot"),
    ];
    g.bench_function("full_restore_other_snapshot", |bench| {
        let mut k = 0;
        bench.iter(|| {
            k ^= 1;
            b2.restore_from(&two[k]).expect("restore");
        })
    });
    g.bench_function("plain_copy_64MiB", |bench| {
        let mut dst = vec![1u8; RAM];
        bench.iter(|| dst.copy_from_slice(snap.as_bytes()))
    });
    g.finish();
}

fn refresh(c: &mut Criterion) {
    let mut g = c.benchmark_group("ram_refresh_snapshot_64MiB");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    let mut b = filled();
    let mut snap = b.snapshot().expect("snapshot");
    for n in [10usize, 100, 1000] {
        g.bench_with_input(BenchmarkId::new("dirty_pages", n), &n, |bench, &n| {
            bench.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for round in 0..iters {
                    dirty(&mut b, n, round);
                    let t0 = Instant::now();
                    b.refresh_snapshot(&mut snap).expect("refresh");
                    t += t0.elapsed();
                }
                t
            })
        });
    }
    g.finish();
}

fn first_write(c: &mut Criterion) {
    const PAGES: usize = 256;
    let mut g = c.benchmark_group("ram_first_write");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(PAGES as u64));
    let mut b = filled();
    let snap = b.snapshot().expect("snapshot");
    g.bench_function("engine_store_fault", |bench| {
        bench.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for round in 0..iters {
                let t0 = Instant::now();
                dirty(&mut b, PAGES, round);
                t += t0.elapsed();
                b.restore_from(&snap).expect("restore");
            }
            t
        })
    });
    g.bench_function("host_write_unprotect", |bench| {
        bench.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for round in 0..iters {
                let t0 = Instant::now();
                for i in 0..PAGES {
                    let p = page(b.pages(), round, i);
                    b.write_u64((p * PAGE_SIZE + 8) as u64, round)
                        .expect("write");
                }
                t += t0.elapsed();
                b.restore_from(&snap).expect("restore");
            }
            t
        })
    });
    g.bench_function("store_to_writable_page", |bench| {
        bench.iter_custom(|iters| {
            dirty(&mut b, PAGES, 0);
            let t0 = Instant::now();
            for round in 0..iters {
                dirty(&mut b, PAGES, 0);
                std::hint::black_box(round);
            }
            let t = t0.elapsed();
            b.restore_from(&snap).expect("restore");
            t
        })
    });
    g.finish();
}

criterion_group!(benches, restore, refresh, first_write);
criterion_main!(benches);
