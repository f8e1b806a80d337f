//! Scaling of the diff engine: generated C with N functions (half static,
//! half global; each with a string literal and a static local, plus one
//! global data object per pair), exactly one changed. Objects are compiled
//! once per N and cached under the target directory; the measured call is
//! `payloads::diff_objects` (no process spawn, XEN-SYMS parsed once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use payloads::symtab::XenSymbols;
use payloads::{diff_objects, DiffOptions};

const GENERATOR_VERSION: &str = "diff_scaling v1";
const SIZES: [usize; 3] = [1_000, 4_000, 16_000];
const CFLAGS: [&str; 8] = [
    "-ffunction-sections",
    "-fdata-sections",
    "-O2",
    "-fno-pic",
    "-mno-red-zone",
    "-fno-omit-frame-pointer",
    "-fno-asynchronous-unwind-tables",
    "-c",
];

fn source(n: usize, changed: bool) -> String {
    let pairs = n / 2;
    let mid = pairs / 2;
    let mut s = String::from("int printk(const char *, ...);\n");
    for i in 0..pairs {
        let k = i % 97 + 3;
        let extra = if changed && i == mid { " + 1" } else { "" };
        let _ = writeln!(s, "int d_{i} = {i};");
        let _ = writeln!(
            s,
            "static __attribute__((noinline)) int s_{i}(int x) {{ static int cnt; cnt += x; return x * {k} + cnt{extra} + printk(\"s{i}\\n\"); }}"
        );
        let _ = writeln!(
            s,
            "int g_{i}(int x) {{ static int hits; hits++; return s_{i}(x) + printk(\"g%d %d\\n\", {i}, x) + d_{i} + hits; }}"
        );
    }
    s
}

fn compile(dir: &Path, src: &str, out: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("lp.c"), src).unwrap();
    let st = Command::new("gcc")
        .current_dir(dir)
        .args(CFLAGS)
        .arg("lp.c")
        .arg("-o")
        .arg(out)
        .status()
        .expect("gcc");
    assert!(st.success());
}

/// (orig.o, patched.o, xen-syms) for N functions, compiled once.
fn objects(n: usize) -> (PathBuf, PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bench-cache")
        .join("diff_scaling")
        .join(n.to_string());
    let orig = dir.join("orig.o");
    let patched = dir.join("patched.o");
    let xen = dir.join("xen-syms");
    let stamp = dir.join("stamp");
    let gcc = Command::new("gcc")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let want = format!("{GENERATOR_VERSION}\n{gcc}\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) && xen.exists() {
        return (orig, patched, xen);
    }
    eprintln!(
        "diff_scaling: compiling N={n} (cached afterwards in {})",
        dir.display()
    );
    let (o_src, p_src) = (source(n, false), source(n, true));
    std::thread::scope(|sc| {
        sc.spawn(|| compile(&dir.join("o"), &o_src, &orig));
        sc.spawn(|| compile(&dir.join("p"), &p_src, &patched));
    });
    let st = Command::new("ld")
        .args([
            "-e",
            "0",
            "-Ttext=0x100000",
            "--unresolved-symbols=ignore-all",
            "-o",
        ])
        .arg(&xen)
        .arg(&orig)
        .status()
        .expect("ld");
    assert!(st.success());
    std::fs::write(&stamp, want).unwrap();
    (orig, patched, xen)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff_objects");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for n in SIZES {
        let (o, p, x) = objects(n);
        let orig = std::fs::read(o).unwrap();
        let patched = std::fs::read(p).unwrap();
        let xen = XenSymbols::parse(&std::fs::read(x).unwrap(), "xen-syms").unwrap();
        let opts = DiffOptions::new("lp.o");
        // Sanity: exactly one changed function.
        let out = diff_objects(&orig, &patched, &xen, &opts).unwrap();
        assert_eq!(out.report.funcs.len(), 1);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| diff_objects(&orig, &patched, &xen, &opts).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
