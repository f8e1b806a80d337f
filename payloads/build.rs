//! Links the build tools with the static unwinder, `libgcc_eh.a`, in place
//! of `libgcc_s.so.1`.
//!
//! std unwinds with libgcc's unwinder and rustc asks the linker for it as
//! `-lgcc_s`. Loading `libgcc_s.so.1` runs its constructor, which probes
//! the processor with `cpuid` several times; on a virtual machine each
//! `cpuid` traps to the hypervisor, and that was 0.09 ms of
//! create-diff-object's 0.9 ms on a small object, which the tool pays once
//! per changed object (ARCHITECTURE.md, "Building payloads"). A linker
//! script named `libgcc_s.so`, first on the search path, gives the linker
//! gcc's static unwinder instead: the one `-static-libgcc` and a crt-static
//! build use. Where the compiler has no `libgcc_eh.a` nothing changes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    if !gnu_linux {
        return;
    }
    let Some(eh) = static_unwinder() else {
        println!("cargo:warning=no libgcc_eh.a: the tools load libgcc_s.so.1");
        return;
    };
    let script = format!("INPUT({})\n", eh.display());
    if std::fs::write(out.join("libgcc_s.so"), script).is_ok() {
        println!("cargo:rustc-link-search=native={}", out.display());
    }
}

/// Where the C compiler keeps `libgcc_eh.a`, if it has one.
fn static_unwinder() -> Option<PathBuf> {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the file, gcc prints the bare name back.
    (path.is_absolute() && Path::new(&path).is_file()).then_some(path)
}
