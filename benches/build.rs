//! Assembles the ftrace-style trampoline template the native call-path
//! benchmarks copy into memory they map (`native/ftrace_tramp.S`).

fn main() {
    println!("cargo:rerun-if-changed=native/ftrace_tramp.S");
    cc::Build::new()
        .file("native/ftrace_tramp.S")
        .compile("cp_tramp");
}
