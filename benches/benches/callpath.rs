//! Patched call paths.
//!
//! Native (host x86-64, `testbed_benches::native`): a leaf called through a
//! direct call, a `jmp rel32` over its entry (replacement near, or about
//! 2 GiB away), an ftrace-style trampoline and a function pointer; hot
//! (one call site in a loop) and cold (8,192 call sites over 4,096
//! functions in a shuffled order). After criterion, a summary of ns and
//! TSC cycles per call and the ratios (to direct; cold also to ftrace) is
//! printed and written to `target/criterion/callpath-native.md`.
//!
//! Emulated: host time of a batch of calls of `XENVER_callpath` unpatched
//! and patched (the machine running normally); the exact guest counts come
//! from `testbed callpath`, whose table and bar chart this bench writes to
//! `target/criterion/callpath.{md,svg}`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use scenarios::callpath::{self, Options};
use scenarios::machine::{default_image, load_image, nr, Action, Boot, Testbed, XENVER_CALLPATH};
use testbed_benches::native::{tsc_per_ns, CallPath, Variant, COLD_SITES};

/// Calls per iteration of a hot path.
const HOT_CALLS: u64 = 10_000;
/// Calls per iteration of the emulated bench.
const EMULATED_CALLS: u64 = 100;

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion")
}

fn native(c: &mut Criterion) {
    for cold in [false, true] {
        let mut g = c.benchmark_group(if cold {
            "callpath-native-cold"
        } else {
            "callpath-native-hot"
        });
        g.throughput(Throughput::Elements(if cold {
            COLD_SITES as u64
        } else {
            HOT_CALLS
        }));
        for v in Variant::ALL {
            let p = CallPath::new(v, cold).expect("map the call path");
            assert_eq!(p.run(HOT_CALLS), p.expected(HOT_CALLS), "{v:?}");
            g.bench_function(v.name(), |b| b.iter(|| p.run(black_box(HOT_CALLS))));
        }
        g.finish();
    }
}

/// ns per call of one timed run of about 50,000 calls (tens of µs: short
/// enough that most runs are not preempted on a loaded host).
fn ns_per_call(p: &CallPath) -> f64 {
    let calls = p.calls(HOT_CALLS);
    let reps = (50_000 / calls).max(1);
    let t = Instant::now();
    let mut s = 0u64;
    for _ in 0..reps {
        s = s.wrapping_add(p.run(black_box(HOT_CALLS)));
    }
    black_box(s);
    t.elapsed().as_nanos() as f64 / (reps * calls) as f64
}

/// Timed runs per variant; the variants take turns, so that a noisy
/// neighbour on this shared host slows them alike, and the best run of
/// each counts.
const ROUNDS: usize = 201;

/// The native summary: ns and TSC cycles per call, ratios.
fn native_summary() -> String {
    let tsc = tsc_per_ns(200);
    let mut out = format!(
        "Native call paths (x86-64 host; TSC {tsc:.3} GHz, cycles = ns x TSC rate; \
         best of {ROUNDS} interleaved runs)\n\n\
         | variant | hot ns/call | hot cycles | hot / direct | cold ns/call | cold cycles | cold / direct | cold / ftrace |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    let mut paths = Vec::new();
    for v in Variant::ALL {
        match (CallPath::new(v, false), CallPath::new(v, true)) {
            (Ok(h), Ok(c)) => paths.push((v, h, c, Vec::new(), f64::INFINITY)),
            (Err(e), _) | (_, Err(e)) => out.push_str(&format!("| {} | {e} |\n", v.name())),
        }
    }
    for _ in 0..ROUNDS {
        for (_, h, c, hot, best_c) in paths.iter_mut() {
            hot.push(ns_per_call(h));
            *best_c = best_c.min(ns_per_call(c));
        }
    }
    let best = |runs: &[f64]| runs.iter().copied().fold(f64::INFINITY, f64::min);
    let find = |v: Variant| {
        paths
            .iter()
            .find(|p| p.0 == v)
            .map(|p| (p.3.as_slice(), p.4))
    };
    let (Some((direct, bc)), Some((_, fc))) = (find(Variant::Direct), find(Variant::Ftrace)) else {
        return out;
    };
    let bh = best(direct);
    for (v, _, _, hot, c) in &paths {
        let h = best(hot);
        out.push_str(&format!(
            "| {} | {h:.3} | {:.2} | {:.2} | {c:.3} | {:.2} | {:.2} | {:.2} |\n",
            v.name(),
            h * tsc,
            h / bh,
            c * tsc,
            c / bc,
            c / fc
        ));
    }
    // The same round's runs are paired: a neighbour slowing the host moves
    // both, and the median of the differences keeps what is left.
    let paired = |runs: &[f64]| {
        let mut d: Vec<f64> = runs
            .iter()
            .zip(direct)
            .map(|(a, b)| (a - b) * tsc)
            .collect();
        d.sort_by(f64::total_cmp);
        d.get(d.len() / 2).copied().unwrap_or(f64::NAN)
    };
    out.push_str("\nhot, TSC cycles per call more than direct: best run minus best run / median of the rounds' differences\n\n");
    for v in [Variant::JmpNear, Variant::JmpFar, Variant::DirectJmp] {
        if let Some((runs, _)) = find(v) {
            out.push_str(&format!(
                "- {}: {:+.2} / {:+.2}\n",
                v.name(),
                (best(runs) - bh) * tsc,
                paired(runs)
            ));
        }
    }
    out.push_str(
        "\n`direct+jmp` is the control: a direct call after one taken `jmp` in the caller. \
         Where `jmp-near` costs what it does, the patch costs one taken branch and nothing else.\n",
    );
    out
}

/// Host time of emulated calls, and the exact guest table and chart.
fn emulated(c: &mut Criterion) {
    let Ok(image) = load_image(&default_image()) else {
        eprintln!("callpath: no mini-xen image (make image): emulated benches skipped");
        return;
    };
    let opts = Options {
        vcpus: 1,
        calls: 1000,
        payloads: callpath::default_payloads(),
    };
    match callpath::run(&image, &opts) {
        Ok(rows) => {
            let table = callpath::table(&rows);
            println!("\n{table}");
            let dir = out_dir();
            let written = std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(dir.join("callpath.md"), &table))
                .and_then(|()| std::fs::write(dir.join("callpath.svg"), callpath::svg(&rows)));
            if let Err(e) = written {
                eprintln!("callpath: cannot write {}: {e}", dir.display());
            }
        }
        Err(e) => eprintln!("callpath: {e}"),
    }
    let boot = Boot {
        vcpus: 1,
        seed: 1,
        busy: false,
        cmdline: String::new(),
    };
    let mut g = c.benchmark_group("callpath-emulated");
    g.throughput(Throughput::Elements(EMULATED_CALLS));
    g.sample_size(10);
    for patched in [false, true] {
        let Ok(mut t) = Testbed::new(image.clone(), &boot) else {
            return;
        };
        if t.run_for(5_000_000).is_err() {
            return;
        }
        if patched {
            let path = opts.payloads.join("test/xen_callpath_same.livepatch");
            let Ok(bytes) = std::fs::read(&path) else {
                eprintln!("callpath: {} missing (make build)", path.display());
                return;
            };
            let loaded = t
                .upload("xen_callpath_same", &bytes)
                .is_ok_and(|rc| rc == 0)
                && t.action_and_settle("xen_callpath_same", Action::Apply, 30_000_000, 0)
                    .is_ok_and(|(rc, _)| rc == 0);
            if !loaded {
                eprintln!("callpath: xen_callpath_same did not apply");
                return;
            }
        }
        let name = if patched {
            "XENVER_callpath/patched"
        } else {
            "XENVER_callpath/unpatched"
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    let r = t.repeat(
                        1,
                        EMULATED_CALLS,
                        nr::XEN_VERSION,
                        [XENVER_CALLPATH, 7, 0],
                        &[],
                    );
                    black_box(r.ok());
                }
                t0.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = native, emulated
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let summary = native_summary();
    println!("\n{summary}");
    let dir = out_dir();
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("callpath-native.md"), &summary))
    {
        eprintln!("callpath: cannot write {}: {e}", dir.display());
    }
}
