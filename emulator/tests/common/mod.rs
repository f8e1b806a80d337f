//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use emulator::{Config, Image, Machine, MachineError};

/// The mini-xen image `make image` built.
pub fn mini_xen() -> Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE
        .get_or_init(|| Image::load(&Image::default_path()).expect("run `make image` first"))
        .clone()
}

/// Boots mini-xen on `vcpus` vCPUs with `seed`.
pub fn boot(vcpus: usize, seed: u64) -> Machine {
    Machine::new(mini_xen(), Config::new(vcpus, seed)).expect("machine")
}

/// Boots mini-xen with a hypervisor command line.
pub fn boot_with(vcpus: usize, seed: u64, cmdline: &str) -> Machine {
    let mut cfg = Config::new(vcpus, seed);
    cfg.cmdline = cmdline.to_string();
    Machine::new(mini_xen(), cfg).expect("machine")
}

/// Console output as text.
pub fn console(m: &Machine) -> String {
    String::from_utf8_lossy(m.console()).into_owned()
}

/// Unwraps a run result, printing the console and crash report on failure.
pub fn ok<T>(m: &Machine, r: Result<T, MachineError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{}\n{e}", console(m)),
    }
}

/// Assembles a tiny flat test program (GNU as, AT&T) linked at the image
/// base, and loads it like a mini-xen build.
pub fn asm_image(name: &str, source: &str) -> Image {
    // Tests run in parallel and may assemble the same program: one
    // directory per call.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let src = dir.join("t.S");
    std::fs::write(&src, source).expect("write source");
    let obj = dir.join("t.o");
    let elf = dir.join("t");
    let bin = dir.join("t.bin");
    let run = |cmd: &mut Command| {
        let st = cmd.status().expect("binutils");
        assert!(st.success(), "{cmd:?} failed");
    };
    run(Command::new("as").arg("--64").arg("-o").arg(&obj).arg(&src));
    run(Command::new("ld")
        .args(["-Ttext=0x100000", "--build-id=sha1", "-o"])
        .arg(&elf)
        .arg(&obj));
    run(Command::new("objcopy")
        .args(["-O", "binary"])
        .arg(&elf)
        .arg(&bin));
    Image::load(&elf).expect("test image")
}

/// Runs `f` on the machine and unwraps like [`ok`].
pub fn run<T>(m: &mut Machine, f: impl FnOnce(&mut Machine) -> Result<T, MachineError>) -> T {
    let r = f(m);
    ok(m, r)
}

/// Runs of 6 or more hex digits (addresses, build-ids) become `<hex>`, so
/// snapshots survive rebuilds; whitespace is kept.
pub fn redact_hex(line: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in line.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() >= 6 {
            out.push_str("<hex>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}
