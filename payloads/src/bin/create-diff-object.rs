//! `create-diff-object ORIG.o PATCHED.o XEN-SYMS OUT.o`
//!
//! Exit codes (as livepatch-build-tools): 0 = payload object written,
//! 1 = error (unreadable or malformed input, symbol lookup failure),
//! 2 = unpatchable difference (changed data, function too small, ...),
//! 3 = no functional change (nothing written).
#![deny(unsafe_code)]
#![no_main]

mod cli;
mod mapped;

use std::ffi::{c_char, c_int};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, ValueEnum};
use mapped::Input;
use payloads::report::Report;
use payloads::special::SpecialSizes;
use payloads::symtab::XenSymbols;
use payloads::{diff_objects_with, DiffError, DiffOptions};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
}

/// Build a live-patch payload object from an original and a patched object.
#[derive(Debug, Parser)]
#[command(name = "create-diff-object", version)]
struct Cli {
    /// Also print every differing unit and internal counts.
    #[arg(short, long)]
    debug: bool,
    /// Accepted for compatibility: old addresses are always taken from XEN-SYMS.
    #[arg(short, long)]
    resolve: bool,
    /// Report format printed on standard output.
    #[arg(long, value_enum, default_value = "text")]
    report: ReportFormat,
    /// Refuse R_X86_64_32/32S relocations (Xen's loader does not accept them).
    #[arg(long)]
    strict_relocs: bool,
    /// Size of struct bug_frame [env: BUG_STRUCT_SIZE, default 8].
    #[arg(long)]
    bug_frame_size: Option<u64>,
    /// Size of struct exception_table_entry [env: EX_STRUCT_SIZE, default 8].
    #[arg(long)]
    ex_table_size: Option<u64>,
    /// Size of struct alt_instr [env: ALT_STRUCT_SIZE, default 14].
    #[arg(long)]
    alt_instr_size: Option<u64>,
    /// Object from the original build.
    orig: PathBuf,
    /// Object from the patched build.
    patched: PathBuf,
    /// Hypervisor ELF with symbols (xen-syms).
    xen_syms: PathBuf,
    /// Payload object to write.
    output: PathBuf,
}

fn size_option(flag: Option<u64>, var: &str, default: u64) -> Result<u64, String> {
    if let Some(v) = flag {
        return Ok(v);
    }
    match std::env::var(var) {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("environment variable {var}={s:?} is not a number")),
        _ => Ok(default),
    }
}

fn read(path: &Path, obj: &str) -> Result<Input, String> {
    Input::open(path).map_err(|e| format!("ERROR: {obj}: cannot read {}: {e}", path.display()))
}

/// Print the report on standard output, flushed. A report that cannot be
/// printed is an error (exit 1), not a panic.
fn print_report(report: &Report, format: ReportFormat) -> Result<(), String> {
    let text = match format {
        ReportFormat::Json => report.to_json(),
        ReportFormat::Text => report.to_text(),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warning: {e}");
            return Ok(());
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot print the report: {e}"))
}

fn run(cli: &Cli) -> Result<u8, (u8, String)> {
    let obj = cli
        .orig
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| cli.orig.display().to_string());
    let fail = |msg: String| (1u8, msg);
    let sizes = SpecialSizes {
        bug_frame: size_option(cli.bug_frame_size, "BUG_STRUCT_SIZE", 8)
            .map_err(|e| fail(format!("ERROR: {obj}: {e}")))?,
        ex_table: size_option(cli.ex_table_size, "EX_STRUCT_SIZE", 8)
            .map_err(|e| fail(format!("ERROR: {obj}: {e}")))?,
        alt_instr: size_option(cli.alt_instr_size, "ALT_STRUCT_SIZE", 14)
            .map_err(|e| fail(format!("ERROR: {obj}: {e}")))?,
    };
    let orig = read(&cli.orig, &obj).map_err(fail)?;
    let patched = read(&cli.patched, &obj).map_err(fail)?;
    let xen_bytes = read(&cli.xen_syms, &obj).map_err(fail)?;
    let xen_name = cli.xen_syms.display().to_string();
    let xen = XenSymbols::parse(xen_bytes.bytes(), &xen_name)
        .map_err(|e| fail(format!("ERROR: {obj}: {e}")))?;
    // The table owns its names: the mapping can go before the diff.
    drop(xen_bytes);
    let mut opts = DiffOptions::new(&obj);
    opts.files = Some((
        cli.orig.display().to_string(),
        cli.patched.display().to_string(),
    ));
    opts.special_sizes = sizes;
    opts.output.strict_relocs = cli.strict_relocs;
    opts.debug = cli.debug;
    let release = || {
        orig.release_copied();
        patched.release_copied();
    };
    match diff_objects_with(orig.bytes(), patched.bytes(), &xen, &opts, release) {
        Ok(out) => {
            print_report(&out.report, cli.report)
                .map_err(|e| fail(format!("ERROR: {obj}: {e}")))?;
            match out.object_bytes {
                Some(bytes) => {
                    // A new file, not the old one truncated: ext4 writes a
                    // truncated file's blocks back when it is closed
                    // (`auto_da_alloc`), which costs a rebuild more than
                    // the diff itself.
                    match std::fs::remove_file(&cli.output) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(fail(format!(
                                "ERROR: {obj}: cannot replace {}: {e}",
                                cli.output.display()
                            )));
                        }
                        _ => {}
                    }
                    std::fs::write(&cli.output, bytes).map_err(|e| {
                        fail(format!(
                            "ERROR: {obj}: cannot write {}: {e}",
                            cli.output.display()
                        ))
                    })?;
                    Ok(0)
                }
                None => {
                    eprintln!("{obj}: no functional changes found");
                    Ok(3)
                }
            }
        }
        Err(e) => {
            let code = u8::try_from(e.exit_code()).unwrap_or(1);
            if let DiffError::Unpatchable { report, .. } = &e {
                // The refusal is the error to show; a report that cannot
                // be printed as well adds nothing to it.
                let _ = print_report(report, cli.report);
            }
            let mut msg = format!("ERROR: {obj}: {e}");
            if code == 2 {
                msg.push_str("\ncreate-diff-object: unpatchable difference");
            }
            Err((code, msg))
        }
    }
}

/// The process entry, called by the C start-up code instead of std's.
///
/// The tool runs once per changed object, so its start-up is most of its
/// time on a small one. std's runtime set-up, which `#![no_main]` leaves
/// out, reads `/proc/self/maps` to find the main thread's stack, installs
/// a stack-overflow handler on a fresh alternate stack and ignores
/// SIGPIPE: 50–70 µs a run, a fifteenth of the whole run on a small object
/// (ARCHITECTURE.md, "Building payloads"). Without it a stack overflow is
/// a plain SIGSEGV, and a closed pipe on standard output ends the process
/// as it ends a C tool. Nothing is left buffered at the end: the report,
/// the one thing printed on standard output, is flushed when printed.
/// `std::env::args` still works: std takes the arguments from glibc's
/// initialisers.
#[allow(unsafe_code)]
// SAFETY: the only `main` symbol in the program (std defines none under
// `#![no_main]`), with the C signature the start-up code calls.
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    mapped::single_malloc_arena();
    let code = match cli::parse_args::<Cli>() {
        Ok(cli) => run(&cli).unwrap_or_else(|(code, msg)| {
            eprintln!("{msg}");
            code
        }),
        Err(code) => code,
    };
    c_int::from(code)
}
