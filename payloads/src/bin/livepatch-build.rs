//! `livepatch-build -s SRCDIR -p PATCH -o OUTPUT [options]`
//!
//! Builds a live-patch payload `OUTPUT/NAME.livepatch` from a source patch
//! to the hypervisor tree SRCDIR (see `payloads::driver`). The tree is
//! patched in place and always restored, also on errors and Ctrl-C.
//!
//! Exit codes: 0 payload built, 1 error, 2 the change cannot be
//! live-patched, 3 no functional changes, 130 interrupted.
#![forbid(unsafe_code)]

mod cli;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use payloads::driver::cache::BuildCache;
use payloads::driver::{Driver, DriverError, Options};

/// Build a live-patch payload from a source patch.
#[derive(Debug, Parser)]
#[command(name = "livepatch-build", version)]
struct Cli {
    /// The hypervisor source tree (the directory with its Makefile).
    #[arg(short = 's', long = "srcdir", value_name = "DIR")]
    srcdir: PathBuf,
    /// The source patch: a unified diff applied with `patch -p1` in SRCDIR.
    #[arg(short = 'p', long = "patch", value_name = "FILE")]
    patch: PathBuf,
    /// Output directory (created if needed): NAME.livepatch, build logs,
    /// report.txt and the intermediate builds in .build/.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
    /// Build-id (hex) of what this payload stacks on: the previous payload,
    /// or the hypervisor [default: the last --depends-payload's, else the
    /// build-id of XEN-SYMS].
    #[arg(long = "depends", value_name = "BUILDID")]
    depends: Option<String>,
    /// A payload below this one in the stack (repeatable, lowest first):
    /// its exports resolve this payload's references, and a function it
    /// replaces may only be replaced again when building on the stack
    /// [default: the payload with the --depends build-id in OUTPUT].
    #[arg(long = "depends-payload", value_name = "FILE")]
    depends_payload: Vec<PathBuf>,
    /// The source patch of a payload below (repeatable, in stack order):
    /// applied to both builds, so that this payload keeps the lower fixes.
    #[arg(long = "base-patch", value_name = "FILE")]
    base_patch: Vec<PathBuf>,
    /// Build-id (hex) of the hypervisor the payload is for [default: the
    /// build-id of XEN-SYMS].
    #[arg(long = "xen-depends", value_name = "BUILDID")]
    xen_depends: Option<String>,
    /// Payload name [default: the patch file name without .patch/.diff].
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    name: Option<String>,
    /// Parallel jobs for make and for diffing [default: the number of CPUs].
    #[arg(short = 'j', long = "cpus", value_name = "N")]
    cpus: Option<usize>,
    /// Hypervisor configuration (accepted for compatibility and copied to
    /// OUTPUT/config; mini-xen has no configuration).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The running hypervisor's ELF with symbols [default:
    /// SRCDIR/build/mini-xen].
    #[arg(long = "xen-syms", value_name = "PATH")]
    xen_syms: Option<PathBuf>,
    /// Cache of builds of the unmodified tree, keyed by the tree's checksum,
    /// the config and the compiler [default: $XDG_CACHE_HOME/livepatch-build
    /// or ~/.cache/livepatch-build].
    #[arg(long = "cache-dir", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Build the unmodified tree even if the cache has it (and do not
    /// store it).
    #[arg(long = "no-cache", conflicts_with = "cache_dir")]
    no_cache: bool,
    /// No progress output on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Sign the payload with this secret key file (see livepatch-sign).
    #[arg(long = "sign", value_name = "KEYFILE")]
    sign: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli: Cli = match cli::parse_args() {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    let jobs = cli.cpus.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = Options {
        srcdir: cli.srcdir,
        patch: cli.patch,
        output: cli.output.clone(),
        depends: cli.depends,
        depends_payloads: cli.depends_payload,
        base_patches: cli.base_patch,
        xen_depends: cli.xen_depends,
        name: cli.name,
        jobs,
        config: cli.config,
        xen_syms: cli.xen_syms,
        cache: if cli.no_cache {
            None
        } else {
            cli.cache_dir.or_else(BuildCache::default_dir)
        },
        progress: progress::choose(cli.quiet),
    };
    // Read the key first: a bad key file fails before any build.
    let key = match cli.sign.as_deref().map(payloads::sign::read_signing_key) {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            eprintln!("livepatch-build: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let driver = match Driver::new(opts) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("livepatch-build: error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };

    // Ctrl-C / SIGTERM / SIGHUP: stop make, revert the patch, verify the
    // tree, exit 130.
    let session = driver.session();
    if let Err(e) = ctrlc::set_handler(move || {
        eprintln!("\nlivepatch-build: interrupted; restoring the source tree");
        match session.interrupt() {
            Ok(()) => eprintln!(
                "livepatch-build: source tree {} restored",
                session.srcdir().display()
            ),
            Err(e) => eprintln!("livepatch-build: error: {e}"),
        }
        std::process::exit(130);
    }) {
        eprintln!("livepatch-build: warning: cannot install the Ctrl-C handler: {e}");
    }

    let quiet = cli.quiet;
    let report_path = cli.output.join("report.txt");
    let write_report = |text: &str| {
        print!("{text}");
        if let Err(e) = std::fs::write(&report_path, text) {
            eprintln!(
                "livepatch-build: warning: cannot write {}: {e}",
                report_path.display()
            );
        }
    };
    match driver.run() {
        Ok(built) => {
            if let Some(key) = &key {
                if let Err(e) = payloads::sign::sign_file(&built.payload, key) {
                    eprintln!("livepatch-build: error: {e}");
                    return ExitCode::FAILURE;
                }
            }
            match built.report.to_text() {
                Ok(t) => write_report(&t),
                Err(e) => eprintln!("livepatch-build: warning: {e}"),
            }
            let t = &built.timings;
            if quiet {
                return ExitCode::SUCCESS;
            }
            let cached = if t.cached { " (from the cache)" } else { "" };
            let (base, orig_cached) = if t.build_base.is_zero() {
                (String::new(), cached)
            } else {
                (
                    format!(
                        "unmodified build {:.2}s{cached}, ",
                        t.build_base.as_secs_f64()
                    ),
                    "",
                )
            };
            eprintln!(
                "livepatch-build: wrote {} in {:.2}s ({base}original build {:.2}s{orig_cached}, patched build {:.2}s, diff {:.3}s, link {:.3}s)",
                built.payload.display(),
                t.total.as_secs_f64(),
                t.build_orig.as_secs_f64(),
                t.build_patched.as_secs_f64(),
                t.diff.as_secs_f64(),
                t.link.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(r) = e.report() {
                match r.to_text() {
                    Ok(t) => write_report(&t),
                    Err(e) => eprintln!("livepatch-build: warning: {e}"),
                }
            }
            let code = e.exit_code();
            let what = match code {
                2 => "unpatchable",
                3 => "nothing to do",
                _ => "error",
            };
            eprintln!("livepatch-build: {what}: {e}");
            if matches!(e, DriverError::Interrupted) {
                eprintln!("livepatch-build: interrupted");
            }
            ExitCode::from(code)
        }
    }
}
