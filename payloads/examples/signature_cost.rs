//! Cost of checking a payload's signature in mini-xen: each test payload
//! is uploaded on one vCPU under `livepatch-signature=off` and `=enforce`
//! from the same booted state, and the difference is the verification, in
//! guest instructions (`Machine::stats`) and virtual time (`Machine::now`).
//!
//! `cargo run --release -p payloads --example signature_cost` (after
//! `make build`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use emulator::livepatch::Client;
use emulator::{Config, Image, Machine};

/// Guest instructions, virtual ns and host time of one upload.
fn upload_cost(cmdline: &str, name: &str, payload: &[u8]) -> (u64, u64, f64) {
    let image = Image::load(&Image::default_path()).expect("run `make image` first");
    let mut cfg = Config::new(1, 1);
    cfg.cmdline = cmdline.to_string();
    let mut m = Machine::new(image, cfg).expect("machine");
    m.run_for(5_000_000).expect("boot");
    let (insn, now) = (m.stats().instructions, m.now());
    let t = Instant::now();
    let rc = Client::new(&mut m).upload(name, payload).expect("upload");
    let host = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(
        rc, 0,
        "{name} under {cmdline} (built for this image? `make build demo`)"
    );
    (m.stats().instructions - insn, m.now() - now, host)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/test");
    let mut rows = Vec::new();
    for name in ["xen_nop", "xen_hooks", "xen_hello_world"] {
        let payload = std::fs::read(dir.join(format!("{name}.livepatch"))).expect("make build");
        rows.push((name.to_string(), payload));
    }
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/demo/lp-extraversion.livepatch");
    if let Ok(p) = std::fs::read(&demo) {
        rows.push(("lp-extraversion (make demo)".to_string(), p));
    }
    println!("| payload | bytes | upload, off: insn / virtual us | upload, enforce: insn / virtual us | verification: insn / virtual us | share of upload | host ms off / enforce |");
    println!("|---|---|---|---|---|---|---|");
    for (name, payload) in rows {
        let upload_name = name.split(' ').next().unwrap_or("p");
        let (i0, t0, h0) = upload_cost("livepatch-signature=off", upload_name, &payload);
        let (i1, t1, h1) = upload_cost("livepatch-signature=enforce", upload_name, &payload);
        let (di, dt) = (i1 - i0, t1 - t0);
        println!(
            "| {name} | {} | {i0} / {:.0} | {i1} / {:.0} | {di} / {:.0} | {:.0} % | {h0:.1} / {h1:.1} |",
            payload.len(),
            t0 as f64 / 1e3,
            t1 as f64 / 1e3,
            dt as f64 / 1e3,
            100.0 * dt as f64 / t1 as f64
        );
    }
}
