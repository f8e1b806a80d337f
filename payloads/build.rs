//! How the build tools are linked (GNU/Linux; elsewhere nothing changes).
//!
//! - Every tool links gcc's static unwinder, `libgcc_eh.a`, in place of
//!   `libgcc_s.so.1`. std unwinds with libgcc's unwinder and rustc asks
//!   the linker for it as `-lgcc_s`; loading `libgcc_s.so.1` runs its
//!   constructor, which probes the processor with `cpuid` several times,
//!   and on a virtual machine each `cpuid` traps to the hypervisor.
//! - `create-diff-object` is linked as a static PIE. It runs once per
//!   changed object, so start-up is most of its time on a small one:
//!   loading libc and binding its symbols was a seventh of the run
//!   (ARCHITECTURE.md, "Building payloads"). rustc links statically only
//!   under `-C target-feature=+crt-static`, which cargo cannot give one
//!   binary: given to the whole build it breaks the proc-macro crates.
//!
//! Both work the way glibc's own `libc.so` does: a linker script named
//! `libNAME.so`, found first on the search path, hands the linker the
//! static archives instead of the shared objects rustc's `-lNAME` would
//! find. The archives are the C compiler's; when one is missing that part
//! is left out, with a warning, and the tool links as usual.
//! `PAYLOADS_STATIC_CDO` tells the tests which way create-diff-object was
//! linked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The libraries rustc links std against on GNU/Linux, and the archives
/// that stand in for them in a static link (libc needs libgcc's helpers
/// and its unwinder, as under gcc's own `-static`).
const STATIC_LIBS: [(&str, &[&str]); 7] = [
    ("c", &["libc.a", "libgcc.a", "libgcc_eh.a"]),
    ("m", &["libm.a"]),
    ("pthread", &["libpthread.a"]),
    ("dl", &["libdl.a"]),
    ("rt", &["librt.a"]),
    ("util", &["libutil.a"]),
    ("gcc_s", &["libgcc_eh.a"]),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let out = std::env::var_os("OUT_DIR").map(PathBuf::from);
    let linked_static = match out {
        Some(out) if gnu_linux => link(&out),
        _ => false,
    };
    println!(
        "cargo:rustc-env=PAYLOADS_STATIC_CDO={}",
        u8::from(linked_static)
    );
}

/// Write the scripts and pass them on; true when create-diff-object is
/// linked statically.
fn link(out: &Path) -> bool {
    let mut found = Archives::default();
    let unwind = out.join("unwind");
    match found.all(&["libgcc_eh.a"]) {
        Some(eh) if write_script(&unwind, "gcc_s", &eh) => {
            println!("cargo:rustc-link-search=native={}", unwind.display());
        }
        _ => println!("cargo:warning=no libgcc_eh.a: the tools load libgcc_s.so.1"),
    }
    let whole = out.join("static");
    for (lib, files) in STATIC_LIBS {
        let written = found
            .all(files)
            .is_some_and(|a| write_script(&whole, lib, &a));
        if !written {
            println!("cargo:warning=no static lib{lib}: create-diff-object is linked dynamically");
            return false;
        }
    }
    // Only this binary: the search path of a link argument is the link's
    // own, and both GNU ld and lld search every -L for every -l.
    println!("cargo:rustc-link-arg-bin=create-diff-object=-static-pie");
    println!(
        "cargo:rustc-link-arg-bin=create-diff-object=-L{}",
        whole.display()
    );
    true
}

/// `dir/libLIB.so`: a linker script that names `archives`.
fn write_script(dir: &Path, lib: &str, archives: &[PathBuf]) -> bool {
    let names: Vec<String> = archives.iter().map(|a| a.display().to_string()).collect();
    let script = format!("GROUP({})\n", names.join(" "));
    std::fs::create_dir_all(dir).is_ok()
        && std::fs::write(dir.join(format!("lib{lib}.so")), script).is_ok()
}

/// The C compiler's archives, each asked for once (libgcc_eh.a is in
/// three groups).
#[derive(Default)]
struct Archives(HashMap<&'static str, Option<PathBuf>>);

impl Archives {
    /// Where the C compiler keeps each of `files`, if it has them all.
    fn all(&mut self, files: &[&'static str]) -> Option<Vec<PathBuf>> {
        files
            .iter()
            .map(|&f| self.0.entry(f).or_insert_with(|| compiler_file(f)).clone())
            .collect()
    }
}

fn compiler_file(name: &str) -> Option<PathBuf> {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the file, the compiler prints the bare name back.
    (path.is_absolute() && path.is_file()).then_some(path)
}
