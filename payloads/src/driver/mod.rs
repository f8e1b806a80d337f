//! `livepatch-build`: from a source patch to a live-patch payload.
//!
//! Steps (as Xen's `livepatch-build`, with the differences noted):
//! 1. checksum the source tree ([`tree::Session`]) and check that the patch
//!    applies (`patch --dry-run --fuzz=0`);
//! 2. build the unmodified tree out of tree into `OUTPUT/.build/orig`
//!    (`make -C SRCDIR O=…`; the sources are compiled with
//!    `-ffunction-sections -fdata-sections` by the hypervisor's own
//!    Makefile, the driver adds no flags), and check that the result is
//!    the hypervisor the payload is for (same build-id as `--xen-syms`);
//! 3. apply the patch (`patch -p1 --fuzz=0`), build into
//!    `OUTPUT/.build/patched`, reverse-apply it, and verify the tree
//!    against the checksum (also on errors and on Ctrl-C);
//! 4. compare the objects of both builds byte for byte and diff each
//!    changed pair with [`crate::diff_objects`], in parallel
//!    (`--strict-relocs`: a relocation the loader refuses is an error);
//! 5. link the diff objects, wholly new objects and the
//!    `.livepatch.depends` / `.livepatch.xen_depends` notes with
//!    `ld -r --build-id=sha1`, make `.livepatch.funcs` read-only, check the
//!    result against the loader's rules and write `OUTPUT/NAME.livepatch`;
//! 6. report ([`report::BuildReport`]).
//!
//! Exit codes: 0 payload built, 1 error, 2 unpatchable, 3 no changes.

pub mod cache;
pub mod link;
pub mod make;
pub mod notes;
pub mod objects;
pub mod report;
pub mod stack;
pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::symtab::{SymtabError, XenSymbols};
use crate::{diff_objects, DiffError, DiffOptions};
use cache::BuildCache;
use make::{MakeError, MakeJob, Progress};
use notes::NoteError;
use objects::ObjectsError;
use report::{BuildOutcome, BuildReport, ObjectResult, ObjectStatus, PayloadSummary};
use stack::LowerPayload;
use tree::{Session, TreeError, Verified};

/// Name of the hypervisor ELF in a build directory.
pub const HYPERVISOR_ELF: &str = "mini-xen";
/// Longest payload name (`XEN_LIVEPATCH_NAME_SIZE` - 1).
pub const MAX_NAME_LEN: usize = 127;

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Bad command-line input.
    #[error("{0}")]
    Input(String),
    /// A file or directory of the driver's own could not be handled.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The source tree or the patch.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A build failed.
    #[error(transparent)]
    Make(#[from] MakeError),
    /// A build failed and the tree could not be restored either.
    #[error("{build}\nand restoring the source tree failed: {tree}")]
    MakeAndTree {
        /// Build error.
        build: Box<MakeError>,
        /// Tree error.
        tree: Box<TreeError>,
    },
    /// The build directories.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// Build-ids.
    #[error(transparent)]
    Notes(#[from] NoteError),
    /// The hypervisor symbol table.
    #[error(transparent)]
    XenSyms(#[from] SymtabError),
    /// The tree does not build the hypervisor given as XEN-SYMS.
    #[error(
        "the unpatched tree {srcdir} builds a hypervisor with build-id {built}, \
         but {xen_syms} has build-id {given}: the tree is not the source of that hypervisor \
         (other sources, configuration or compiler). Check out the sources it was built from, \
         or pass the right --xen-syms"
    )]
    NotTheRunningHypervisor {
        /// Tree.
        srcdir: String,
        /// XEN-SYMS.
        xen_syms: String,
        /// Id of the fresh original build.
        built: String,
        /// Id of XEN-SYMS.
        given: String,
    },
    /// Linking or checking the payload.
    #[error(transparent)]
    Link(#[from] link::LinkError),
    /// Diffing failed for some objects (tool errors).
    #[error("{}", failed_objects(.report))]
    DiffFailed {
        /// The report so far.
        report: Box<BuildReport>,
    },
    /// A lower payload could not be read.
    #[error(transparent)]
    Stack(#[from] stack::StackError),
    /// The build cache.
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    /// The change cannot be live-patched.
    #[error("{}", refused_objects(.report))]
    Unpatchable {
        /// The report.
        report: Box<BuildReport>,
    },
    /// Nothing to patch.
    #[error("no functional changes found: the patch changes no code that can be patched")]
    NoChanges {
        /// The report.
        report: Box<BuildReport>,
    },
    /// Ctrl-C / SIGTERM.
    #[error("interrupted; the source tree was restored")]
    Interrupted,
}

fn failed_objects(r: &BuildReport) -> String {
    let mut lines: Vec<String> = r
        .objects
        .iter()
        .filter(|o| o.status == ObjectStatus::Error)
        .map(|o| {
            format!(
                "{}: {}",
                o.name,
                o.error.as_deref().unwrap_or("diff failed")
            )
        })
        .collect();
    lines.extend(r.problems.iter().cloned());
    lines.join("\n")
}

fn refused_objects(r: &BuildReport) -> String {
    let mut lines = Vec::new();
    for o in &r.objects {
        if o.status != ObjectStatus::Refused {
            continue;
        }
        if let Some(rep) = &o.report {
            for p in &rep.problems {
                lines.push(format!("{}: {p}", o.name));
            }
        }
    }
    lines.extend(r.problems.iter().cloned());
    lines.push("the change cannot be live-patched as it is (see the report)".into());
    lines.join("\n")
}

impl DriverError {
    /// Process exit code: 1 error, 2 unpatchable, 3 no changes, 130
    /// interrupted.
    pub fn exit_code(&self) -> u8 {
        match self {
            DriverError::Unpatchable { .. } => 2,
            DriverError::Link(link::LinkError::Refused { .. }) => 2,
            DriverError::NoChanges { .. } => 3,
            DriverError::Interrupted => 130,
            _ => 1,
        }
    }

    /// The report, when the driver got as far as diffing.
    pub fn report(&self) -> Option<&BuildReport> {
        match self {
            DriverError::DiffFailed { report }
            | DriverError::Unpatchable { report }
            | DriverError::NoChanges { report } => Some(report),
            _ => None,
        }
    }
}

/// Inputs of a run (the command line).
#[derive(Debug, Clone)]
pub struct Options {
    /// The hypervisor source tree.
    pub srcdir: PathBuf,
    /// The source patch (`patch -p1`).
    pub patch: PathBuf,
    /// Output directory.
    pub output: PathBuf,
    /// `--depends` (hex); default: the build-id of the last
    /// `--depends-payload`, else the hypervisor's.
    pub depends: Option<String>,
    /// `--depends-payload`: the payloads below this one in the stack,
    /// lowest first.
    pub depends_payloads: Vec<PathBuf>,
    /// `--base-patch`: the source patches of the payloads below, applied in
    /// order to both builds, so that this payload is built on the stack.
    pub base_patches: Vec<PathBuf>,
    /// `--xen-depends` (hex); default: the hypervisor's build-id.
    pub xen_depends: Option<String>,
    /// Payload name; default: the patch file name without extension.
    pub name: Option<String>,
    /// `make -j`.
    pub jobs: usize,
    /// `--config`, recorded only.
    pub config: Option<PathBuf>,
    /// Hypervisor ELF; default `SRCDIR/build/mini-xen`.
    pub xen_syms: Option<PathBuf>,
    /// Where builds of the unmodified tree are cached (`None`: no cache).
    pub cache: Option<PathBuf>,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
}

/// Time spent per phase.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Build of the unmodified tree, when it is not the original build
    /// (`--base-patch`).
    pub build_base: Duration,
    /// The unmodified tree's build came from the cache.
    pub cached: bool,
    /// Original build.
    pub build_orig: Duration,
    /// Patched build (including applying and reverting the patch).
    pub build_patched: Duration,
    /// Comparing and diffing objects.
    pub diff: Duration,
    /// Linking and checking the payload.
    pub link: Duration,
    /// Everything.
    pub total: Duration,
}

/// A successful run.
#[derive(Debug, Clone)]
pub struct Built {
    /// The payload file.
    pub payload: PathBuf,
    /// The report.
    pub report: BuildReport,
    /// Timings.
    pub timings: Timings,
}

/// The payload name derived from a patch file name: extension dropped,
/// every character outside `[A-Za-z0-9_-]` replaced by `-`, at most 127
/// bytes.
pub fn name_from_patch(patch: &Path) -> String {
    let file = patch
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file
        .strip_suffix(".patch")
        .or_else(|| file.strip_suffix(".diff"))
        .unwrap_or(&file);
    sanitize_name(stem)
}

fn sanitize_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NAME_LEN)
        .collect()
}

/// A prepared run: inputs checked, tree checksummed. Install
/// [`Driver::session`]'s `interrupt` as the signal handler, then [`Driver::run`].
#[derive(Debug)]
pub struct Driver {
    opts: Options,
    srcdir: PathBuf,
    patch: PathBuf,
    output: PathBuf,
    name: String,
    session: Arc<Session>,
    patched_files: Vec<String>,
    base_patches: Vec<PathBuf>,
    lower: Vec<LowerPayload>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DriverError + '_ {
    move |source| DriverError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Driver {
    /// Check the inputs and take the tree's checksum.
    pub fn new(opts: Options) -> Result<Driver, DriverError> {
        let srcdir = std::fs::canonicalize(&opts.srcdir).map_err(|e| {
            DriverError::Input(format!(
                "--srcdir {}: {e}; give the hypervisor source tree (the directory with its Makefile)",
                opts.srcdir.display()
            ))
        })?;
        let makefile = std::fs::read_to_string(srcdir.join("Makefile")).map_err(|e| {
            DriverError::Input(format!(
                "--srcdir {}: no Makefile there ({e}); give the hypervisor source tree",
                srcdir.display()
            ))
        })?;
        if !makefile.contains(HYPERVISOR_ELF) {
            return Err(DriverError::Input(format!(
                "--srcdir {}: its Makefile does not build `{HYPERVISOR_ELF}`; give a mini-xen source tree (the directory with mini-xen's Makefile)",
                srcdir.display()
            )));
        }
        let patch = std::fs::canonicalize(&opts.patch)
            .map_err(|e| DriverError::Input(format!("--patch {}: {e}", opts.patch.display())))?;
        let text = std::fs::read(&patch).map_err(io(&patch))?;
        let patched_files: Vec<String> =
            tree::patch_files(&patch, &String::from_utf8_lossy(&text))?
                .iter()
                .map(|p| p.display().to_string())
                .collect();
        let name = match &opts.name {
            Some(n) => {
                if n.is_empty()
                    || n.len() > MAX_NAME_LEN
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(DriverError::Input(format!(
                        "--name {n:?}: use 1 to {MAX_NAME_LEN} characters from [A-Za-z0-9_-]"
                    )));
                }
                n.clone()
            }
            None => name_from_patch(&opts.patch),
        };
        if name.is_empty() {
            return Err(DriverError::Input(format!(
                "cannot derive a payload name from {}; pass --name",
                opts.patch.display()
            )));
        }
        if let Some(d) = &opts.depends {
            notes::parse_hex("--depends", d)?;
        }
        if let Some(d) = &opts.xen_depends {
            notes::parse_hex("--xen-depends", d)?;
        }
        std::fs::create_dir_all(&opts.output).map_err(io(&opts.output))?;
        let output = std::fs::canonicalize(&opts.output).map_err(io(&opts.output))?;
        let skip = if output.starts_with(&srcdir) {
            vec![output.clone()]
        } else {
            Vec::new()
        };
        let mut base_patches = Vec::with_capacity(opts.base_patches.len());
        for b in &opts.base_patches {
            base_patches.push(
                std::fs::canonicalize(b).map_err(|e| {
                    DriverError::Input(format!("--base-patch {}: {e}", b.display()))
                })?,
            );
        }
        let mut lower = Vec::with_capacity(opts.depends_payloads.len());
        for l in &opts.depends_payloads {
            lower.push(LowerPayload::read(l)?);
        }
        if lower.is_empty() {
            if let Some(d) = &opts.depends {
                let id = notes::parse_hex("--depends", d)?;
                lower.extend(LowerPayload::find_by_build_id(&output, &id)?);
            }
        }
        let mut patches = base_patches.clone();
        patches.push(patch.clone());
        let session = Session::new(&srcdir, patches, skip)?;
        Ok(Driver {
            opts,
            srcdir,
            patch,
            output,
            name,
            session,
            patched_files,
            base_patches,
            lower,
        })
    }

    /// The tree session (for the signal handler).
    pub fn session(&self) -> Arc<Session> {
        Arc::clone(&self.session)
    }

    /// The payload name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload path this run writes.
    pub fn payload_path(&self) -> PathBuf {
        self.output.join(format!("{}.livepatch", self.name))
    }

    fn make_job(&self, label: &str, dir: &Path, hint: &str) -> MakeJob {
        MakeJob {
            srcdir: self.srcdir.clone(),
            objdir: dir.to_path_buf(),
            jobs: self.opts.jobs.max(1),
            log: self.output.join(match label {
                "unmodified" => "build_base.log",
                "original" => "build_orig.log",
                _ => "build_patched.log",
            }),
            label: label.to_string(),
            hint: hint.to_string(),
        }
    }

    fn say(&self, msg: &str) {
        self.opts.progress.message(msg);
    }

    fn check_interrupted(&self) -> Result<(), DriverError> {
        if self.session.interrupted() {
            Err(DriverError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Run every step. The tree is restored and verified before this
    /// returns, whatever the outcome.
    pub fn run(&self) -> Result<Built, DriverError> {
        let t0 = Instant::now();
        let mut timings = Timings::default();
        let dirs = self.prepare()?;
        self.build_unmodified(&dirs, &mut timings, true)?;
        let target = match self.target(&dirs) {
            // A cached build that is not the running hypervisor's: build
            // the tree again rather than trust the entry.
            Err(DriverError::NotTheRunningHypervisor { .. }) if timings.cached => {
                self.say("the cached build is not XEN-SYMS's; building the tree again");
                std::fs::remove_dir_all(&dirs.base).map_err(io(&dirs.base))?;
                std::fs::create_dir_all(&dirs.base).map_err(io(&dirs.base))?;
                self.build_unmodified(&dirs, &mut timings, false)?;
                self.target(&dirs)?
            }
            other => other?,
        };
        self.build_original_on_stack(&dirs, &mut timings)?;
        let verified = self.build_patched(&dirs, &mut timings)?;
        let t = Instant::now();
        let diffed = self.diff(&dirs, &target, &verified);
        timings.diff = t.elapsed();
        let (report, link_inputs) = diffed?;
        let (report, link_inputs) = self.refusals(&target, report, link_inputs)?;
        let t = Instant::now();
        let (payload, mut report) = self.link(&dirs, &target, link_inputs, report)?;
        timings.link = t.elapsed();
        report.outcome = BuildOutcome::Built;
        timings.total = t0.elapsed();
        Ok(Built {
            payload,
            report,
            timings,
        })
    }

    /// The output directory: a fresh `.build`, no old payload, the config.
    fn prepare(&self) -> Result<Dirs, DriverError> {
        let work = self.output.join(".build");
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(io(&work))?;
        }
        let old_payload = self.payload_path();
        if old_payload.exists() {
            std::fs::remove_file(&old_payload).map_err(io(&old_payload))?;
        }
        let dirs = Dirs {
            base: if self.base_patches.is_empty() {
                work.join("orig")
            } else {
                work.join("base")
            },
            orig: work.join("orig"),
            patched: work.join("patched"),
            out: work.join("output"),
            config: None,
            work,
        };
        for d in [&dirs.base, &dirs.orig, &dirs.patched, &dirs.out] {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let config = match &self.opts.config {
            Some(c) => {
                let dst = self.output.join("config");
                std::fs::copy(c, &dst)
                    .map_err(|e| DriverError::Input(format!("--config {}: {e}", c.display())))?;
                Some(c.display().to_string())
            }
            None => None,
        };
        Ok(Dirs { config, ..dirs })
    }

    /// Pre-flight, then step 1: the unmodified tree, the source of the running
    /// hypervisor. On a stack (`--base-patch`) it is built on its own and
    /// the original build is the tree with the lower patches.
    fn build_unmodified(
        &self,
        dirs: &Dirs,
        timings: &mut Timings,
        use_cache: bool,
    ) -> Result<(), DriverError> {
        self.session.check_applies()?;

        // 1. The unmodified tree: the source of the running hypervisor. On
        // a stack (`--base-patch`) it is built on its own and the original
        // build is the tree with the lower patches.
        let stacked = !self.base_patches.is_empty();
        let label = if stacked { "unmodified" } else { "original" };
        let t = Instant::now();
        let cache = match (&self.opts.cache, use_cache) {
            (Some(dir), true) => Some((BuildCache::new(dir), self.cache_key()?)),
            _ => None,
        };
        timings.cached = false;
        if let Some((c, key)) = &cache {
            if c.restore(key, &dirs.base)? {
                timings.cached = true;
                self.say(&format!(
                    "{label} tree: build {key} taken from the cache {}",
                    c.dir().display()
                ));
            }
        }
        if !timings.cached {
            make::run(
                &self.make_job(
                    label,
                    &dirs.base,
                    "the unpatched tree does not build: fix the tree (or its toolchain) first",
                ),
                &self.session,
                self.opts.progress.as_ref(),
            )?;
            if !dirs.base.join(HYPERVISOR_ELF).is_file() {
                return Err(DriverError::Input(format!(
                    "--srcdir {}: its build made no `{HYPERVISOR_ELF}`; give a mini-xen source tree",
                    self.srcdir.display()
                )));
            }
            if let Some((c, key)) = &cache {
                c.store(key, &dirs.base)?;
            }
        }
        if stacked {
            timings.build_base = t.elapsed();
        } else {
            timings.build_orig = t.elapsed();
        }
        self.check_interrupted()?;
        Ok(())
    }

    /// The cache key of the unmodified tree: its checksum and `--config`.
    fn cache_key(&self) -> Result<String, DriverError> {
        let config = match &self.opts.config {
            Some(c) => Some(
                std::fs::read(c)
                    .map_err(|e| DriverError::Input(format!("--config {}: {e}", c.display())))?,
            ),
            None => None,
        };
        Ok(BuildCache::key(
            &self.session.manifest().digest(),
            config.as_deref(),
        ))
    }

    /// The hypervisor the payload is for: XEN-SYMS, checked against the
    /// unmodified build, its symbols with the lower payloads' exports, and
    /// the dependencies.
    fn target(&self, dirs: &Dirs) -> Result<Target, DriverError> {
        let built_elf = dirs.base.join(HYPERVISOR_ELF);
        let mut warnings = Vec::new();
        let xen_syms = match &self.opts.xen_syms {
            Some(p) => p.clone(),
            None => {
                let dflt = self.srcdir.join("build").join(HYPERVISOR_ELF);
                if dflt.is_file() {
                    dflt
                } else {
                    warnings.push(format!(
                        "no --xen-syms and no {}: resolving against the original build made now",
                        dflt.display()
                    ));
                    built_elf.clone()
                }
            }
        };
        let xen_bytes = std::fs::read(&xen_syms).map_err(|e| {
            DriverError::Input(format!(
                "--xen-syms {}: {e}; build the hypervisor first (make -C {}) or pass --xen-syms",
                xen_syms.display(),
                self.srcdir.display()
            ))
        })?;
        let xen_name = xen_syms.display().to_string();
        let xen_id = notes::elf_build_id(&xen_bytes, &xen_name)?;
        let built_bytes = std::fs::read(&built_elf).map_err(io(&built_elf))?;
        let built_id = notes::elf_build_id(&built_bytes, &built_elf.display().to_string())?;
        if built_id != xen_id {
            return Err(DriverError::NotTheRunningHypervisor {
                srcdir: self.srcdir.display().to_string(),
                xen_syms: xen_name,
                built: notes::hex(&built_id),
                given: notes::hex(&xen_id),
            });
        }
        let mut xen = XenSymbols::parse(&xen_bytes, &xen_name)?;
        for l in &self.lower {
            for e in &l.exports {
                xen.insert_payload_symbol(&e.name, e.local, e.kind, e.size);
            }
        }
        let xen = xen;
        let depends = match (&self.opts.depends, self.lower.last()) {
            (Some(d), _) => notes::parse_hex("--depends", d)?,
            (None, Some(l)) => l.build_id.clone(),
            (None, None) => xen_id.clone(),
        };
        let xen_depends = match &self.opts.xen_depends {
            Some(d) => notes::parse_hex("--xen-depends", d)?,
            None => xen_id.clone(),
        };
        if xen_depends != xen_id {
            warnings.push(format!(
                "--xen-depends {} is not the build-id of {} ({}): the payload will only load into that other build",
                notes::hex(&xen_depends),
                xen_name,
                notes::hex(&xen_id)
            ));
        }
        let unpatchable = match (
            xen.lookup_global(UNPATCHABLE_START),
            xen.lookup_global(UNPATCHABLE_END),
        ) {
            (Some(s), Some(e)) => Some(s.addr..e.addr),
            _ => None,
        };
        Ok(Target {
            xen,
            unpatchable,
            xen_name,
            xen_id,
            depends,
            xen_depends,
            warnings,
        })
    }

    /// Step 1b: on a stack, the original build, with the lower patches.
    fn build_original_on_stack(
        &self,
        dirs: &Dirs,
        timings: &mut Timings,
    ) -> Result<(), DriverError> {
        if !self.base_patches.is_empty() {
            let t = Instant::now();
            self.check_interrupted()?;
            self.session.apply(self.base_patches.len())?;
            self.say(&format!(
                "applied {} lower patch(es) to {}",
                self.base_patches.len(),
                self.srcdir.display()
            ));
            let built = make::run(
                &self.make_job(
                    "original",
                    &dirs.orig,
                    "the tree with the lower patches (--base-patch) does not build: check their order",
                ),
                &self.session,
                self.opts.progress.as_ref(),
            );
            if let Err(build) = built {
                return Err(match self.session.finish() {
                    Ok(_) => build.into(),
                    Err(tree) => DriverError::MakeAndTree {
                        build: Box::new(build),
                        tree: Box::new(tree),
                    },
                });
            }
            timings.build_orig = t.elapsed();
        }
        Ok(())
    }

    /// Step 2: the patched build; the tree is restored whatever happens.
    fn build_patched(&self, dirs: &Dirs, timings: &mut Timings) -> Result<Verified, DriverError> {
        let t = Instant::now();
        self.check_interrupted()?;
        self.session.apply(self.base_patches.len() + 1)?;
        self.say(&format!(
            "applied {} to {}",
            self.patch.display(),
            self.srcdir.display()
        ));
        let built = make::run(
            &self.make_job(
                "patched",
                &dirs.patched,
                "the patched tree does not build: fix the patch",
            ),
            &self.session,
            self.opts.progress.as_ref(),
        );
        let restored = self.session.finish();
        if self.session.interrupted() {
            return Err(DriverError::Interrupted);
        }
        if let Ok(v) = &restored {
            self.say(&format!(
                "reverted the patch; source tree unchanged ({} files checked)",
                v.files
            ));
        }
        let verified = match (built, restored) {
            (Ok(_), Ok(v)) => v,
            (Err(b), Ok(_)) => return Err(b.into()),
            (Ok(_), Err(t)) => return Err(t.into()),
            (Err(build), Err(tree)) => {
                return Err(DriverError::MakeAndTree {
                    build: Box::new(build),
                    tree: Box::new(tree),
                })
            }
        };
        timings.build_patched = t.elapsed();
        Ok(verified)
    }

    /// Step 3: compare the builds and diff each changed object (in
    /// parallel); new objects are taken whole. Returns the report and what
    /// to link.
    fn diff(
        &self,
        dirs: &Dirs,
        target: &Target,
        verified: &Verified,
    ) -> Result<(BuildReport, Vec<PathBuf>), DriverError> {
        let changes = objects::compare(&dirs.orig, &dirs.patched)?;
        let mut report = self.build_report(dirs, target, verified, &changes);
        let results = self.diff_changed(dirs, target, &changes.changed);
        let mut link_inputs = Vec::new();
        let any_32bit = record_diffs(&mut report, dirs, results, &mut link_inputs)?;
        add_new_objects(&mut report, dirs, &changes.added, &mut link_inputs)?;
        if any_32bit {
            report.warnings.push(
                "absolute 32-bit relocations (R_X86_64_32/32S) come from code compiled with -fno-pic: \
                 the hypervisor's loader accepts only 64-bit and PC-relative ones. Build the hypervisor \
                 with -fpic and hidden visibility (as Xen does), or keep the changed functions from \
                 taking the address of strings and globals"
                    .into(),
            );
        }
        Ok((report, link_inputs))
    }

    /// The build report before any object is diffed.
    fn build_report(
        &self,
        dirs: &Dirs,
        target: &Target,
        verified: &Verified,
        changes: &objects::Changes,
    ) -> BuildReport {
        BuildReport {
            name: self.name.clone(),
            patch: self
                .patch
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            patched_files: self.patched_files.clone(),
            srcdir: self.srcdir.display().to_string(),
            xen_syms: target.xen_name.clone(),
            xen_build_id: notes::hex(&target.xen_id),
            depends: notes::hex(&target.depends),
            xen_depends: notes::hex(&target.xen_depends),
            config: dirs.config.clone(),
            lower_payloads: self
                .lower
                .iter()
                .map(|l| {
                    format!(
                        "{} (build-id {})",
                        l.path.display(),
                        notes::hex(&l.build_id)
                    )
                })
                .collect(),
            base_patches: self
                .base_patches
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            compared: changes.compared,
            objects: Vec::new(),
            removed: changes
                .removed
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            payload: None,
            tree: Some(format!(
                "unchanged after the build ({} files checked)",
                verified.files
            )),
            warnings: target.warnings.clone(),
            problems: Vec::new(),
            outcome: BuildOutcome::Failed,
        }
    }

    /// Diff every changed object pair, in parallel on `--cpus` threads.
    fn diff_changed(&self, dirs: &Dirs, target: &Target, changed: &[PathBuf]) -> Vec<DiffResult> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.opts.jobs.max(1))
            .build()
            .ok();
        let diff_one = |rel: &PathBuf| -> (
            PathBuf,
            Result<crate::DiffOutput, String>,
            Option<DiffError>,
        ) {
            let name = rel.display().to_string();
            let read = |p: PathBuf| {
                std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let (o, p) = match (read(dirs.orig.join(rel)), read(dirs.patched.join(rel))) {
                (Ok(o), Ok(p)) => (o, p),
                (Err(e), _) | (_, Err(e)) => return (rel.clone(), Err(e), None),
            };
            let mut opts = DiffOptions::new(&name);
            opts.output.strict_relocs = true;
            match diff_objects(&o, &p, &target.xen, &opts) {
                Ok(out) => (rel.clone(), Ok(out), None),
                Err(e) => (rel.clone(), Err(e.to_string()), Some(e)),
            }
        };
        match &pool {
            Some(pool) => pool.install(|| changed.par_iter().map(diff_one).collect()),
            None => changed.par_iter().map(diff_one).collect(),
        }
    }

    /// Whether the diffs can make a payload: no tool error, nothing
    /// refused, no lower fix undone, something to patch.
    fn refusals(
        &self,
        target: &Target,
        mut report: BuildReport,
        link_inputs: Vec<PathBuf>,
    ) -> Result<(BuildReport, Vec<PathBuf>), DriverError> {
        if report
            .objects
            .iter()
            .any(|o| o.status == ObjectStatus::Error)
        {
            report.outcome = BuildOutcome::Failed;
            return Err(DriverError::DiffFailed {
                report: Box::new(report),
            });
        }
        if report
            .objects
            .iter()
            .any(|o| o.status == ObjectStatus::Refused)
        {
            report.outcome = BuildOutcome::Unpatchable;
            return Err(DriverError::Unpatchable {
                report: Box::new(report),
            });
        }
        let mut conflicts = unpatchable_conflicts(target, &report);
        conflicts.extend(self.stack_conflicts(&report));
        if !conflicts.is_empty() {
            report.problems = conflicts;
            report.outcome = BuildOutcome::Unpatchable;
            return Err(DriverError::Unpatchable {
                report: Box::new(report),
            });
        }
        if link_inputs.is_empty() {
            report.outcome = BuildOutcome::NoChanges;
            return Err(DriverError::NoChanges {
                report: Box::new(report),
            });
        }
        Ok((report, link_inputs))
    }

    /// Step 4: link, check against the loader's rules, write the payload.
    fn link(
        &self,
        dirs: &Dirs,
        target: &Target,
        mut link_inputs: Vec<PathBuf>,
        mut report: BuildReport,
    ) -> Result<(PathBuf, BuildReport), DriverError> {
        let notes_path = dirs.work.join("depends-notes.o");
        let notes_obj = notes::notes_object(&target.depends, &target.xen_depends)?;
        std::fs::write(&notes_path, notes_obj).map_err(io(&notes_path))?;
        link_inputs.sort();
        link_inputs.push(notes_path);
        let tmp = dirs.work.join(format!("{}.livepatch", self.name));
        link::ld_relocatable(&link_inputs, &tmp)?;
        let mut bytes = std::fs::read(&tmp).map_err(io(&tmp))?;
        link::make_read_only(&mut bytes, &tmp, ".livepatch.funcs")?;
        let info = match link::verify(&bytes, &tmp) {
            Ok(i) => i,
            Err(link::LinkError::Refused { problems }) => {
                report.problems = problems
                    .iter()
                    .map(|p| format!("payload refused: {p}"))
                    .collect();
                report.outcome = BuildOutcome::Unpatchable;
                return Err(DriverError::Unpatchable {
                    report: Box::new(report),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let dst = self.payload_path();
        std::fs::write(&dst, &bytes).map_err(io(&dst))?;
        report.payload = Some(PayloadSummary {
            file: dst
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size: info.size,
            build_id: notes::hex(&info.build_id),
            funcs: info.funcs,
            hooks: info.hooks,
            state_sections: info.state_sections,
        });
        Ok((dst, report))
    }
}

/// The directories of a run, under `OUTPUT/.build`.
#[derive(Debug)]
struct Dirs {
    work: PathBuf,
    /// The unmodified tree's build (the original build unless on a stack).
    base: PathBuf,
    orig: PathBuf,
    patched: PathBuf,
    /// Diff objects.
    out: PathBuf,
    /// `--config`, as recorded in the report.
    config: Option<String>,
}

/// The hypervisor a payload is built for.
#[derive(Debug)]
struct Target {
    xen: XenSymbols,
    /// The hypervisor's `.text.unpatchable`, if it has one.
    unpatchable: Option<std::ops::Range<u64>>,
    xen_name: String,
    xen_id: Vec<u8>,
    depends: Vec<u8>,
    xen_depends: Vec<u8>,
    warnings: Vec<String>,
}

impl Driver {
    /// Functions this payload replaces that a lower payload replaced too,
    /// when the payload was built from the base source: its copy would be
    /// the base version plus this change, and the lower fix would be gone.
    /// Built on the stack (`--base-patch`), replacing them again is the
    /// point.
    fn stack_conflicts(&self, report: &BuildReport) -> Vec<String> {
        if !self.base_patches.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for o in &report.objects {
            let Some(r) = &o.report else { continue };
            for f in &r.funcs {
                if let Some(l) = self.lower.iter().rev().find(|l| l.funcs.contains(&f.name)) {
                    out.push(format!(
                        "`{}` ({}) is already replaced by the lower payload {}: this payload, built from the unmodified source, would undo that fix; build it on the stack with --base-patch LOWER.patch (the lower payload's source patch)",
                        f.name,
                        o.name,
                        l.path.display()
                    ));
                }
            }
        }
        out
    }
}

/// Bounds of the code mini-xen runs while patches are written.
const UNPATCHABLE_START: &str = "__unpatchable_start";
const UNPATCHABLE_END: &str = "__unpatchable_end";

/// Functions the payload would replace that the hypervisor runs while
/// patches are written (its `.text.unpatchable`, closed under direct calls
/// at its build): the loader refuses them with -EINVAL.
fn unpatchable_conflicts(target: &Target, report: &BuildReport) -> Vec<String> {
    let Some(range) = &target.unpatchable else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for o in &report.objects {
        let Some(r) = &o.report else { continue };
        for f in &r.funcs {
            let addr = match f.old_addr {
                0 => target.xen.lookup_global(&f.name).map_or(0, |s| s.addr),
                a => a,
            };
            if range.contains(&addr) {
                out.push(format!(
                    "`{}` ({}) cannot be live-patched: it runs while patches are written                      (in {}'s .text.unpatchable: the rendezvous, the patch writers, the idle                      loop, NMI/MCE entry and what they call), and the loader refuses it with                      -EINVAL; move the change into a function the patch window does not run",
                    f.name, o.name, target.xen_name
                ));
            }
        }
    }
    out
}

/// Global functions defined in an object (for new objects).
/// One diffed object: its path, the engine's output or error message, and
/// the error itself.
type DiffResult = (
    PathBuf,
    Result<crate::DiffOutput, String>,
    Option<DiffError>,
);

/// Write each changed object's payload object and record every result in
/// `report`. Returns whether a refusal was an absolute 32-bit relocation.
fn record_diffs(
    report: &mut BuildReport,
    dirs: &Dirs,
    results: Vec<DiffResult>,
    link_inputs: &mut Vec<PathBuf>,
) -> Result<bool, DriverError> {
    let mut any_32bit = false;
    for (rel, res, err) in results {
        let name = rel.display().to_string();
        match res {
            Ok(out) => {
                let status = match &out.object_bytes {
                    Some(bytes) => {
                        let dst = dirs.out.join(&rel);
                        if let Some(parent) = dst.parent() {
                            std::fs::create_dir_all(parent).map_err(io(parent))?;
                        }
                        std::fs::write(&dst, bytes).map_err(io(&dst))?;
                        link_inputs.push(dst);
                        ObjectStatus::Changed
                    }
                    None => ObjectStatus::NoChange,
                };
                report.objects.push(ObjectResult {
                    name,
                    status,
                    report: Some(out.report),
                    error: None,
                    new_functions: Vec::new(),
                });
            }
            Err(msg) => {
                let (status, rep) = match err {
                    Some(DiffError::Unpatchable {
                        report: r,
                        problems,
                    }) => {
                        let tool = problems.iter().any(crate::report::Problem::is_tool_error);
                        any_32bit |= problems.iter().any(|p| {
                            matches!(p, crate::report::Problem::UnsupportedRelocation { r_type, .. }
                                    if r_type.starts_with("R_X86_64_32"))
                        });
                        (
                            if tool {
                                ObjectStatus::Error
                            } else {
                                ObjectStatus::Refused
                            },
                            Some(*r),
                        )
                    }
                    Some(e) if e.exit_code() == 2 => (ObjectStatus::Refused, None),
                    _ => (ObjectStatus::Error, None),
                };
                let error = if rep.is_some() && status == ObjectStatus::Refused {
                    None
                } else {
                    Some(msg)
                };
                report.objects.push(ObjectResult {
                    name,
                    status,
                    report: rep,
                    error,
                    new_functions: Vec::new(),
                });
            }
        }
    }
    Ok(any_32bit)
}

/// Objects only the patched build has are linked in whole.
fn add_new_objects(
    report: &mut BuildReport,
    dirs: &Dirs,
    added: &[PathBuf],
    link_inputs: &mut Vec<PathBuf>,
) -> Result<(), DriverError> {
    for rel in added {
        let src = dirs.patched.join(rel);
        let dst = dirs.out.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&src, &dst).map_err(io(&src))?;
        let bytes = std::fs::read(&dst).map_err(io(&dst))?;
        report.objects.push(ObjectResult {
            name: rel.display().to_string(),
            status: ObjectStatus::New,
            report: None,
            error: None,
            new_functions: global_functions(&bytes),
        });
        link_inputs.push(dst);
    }
    Ok(())
}

fn global_functions(data: &[u8]) -> Vec<String> {
    use object::{Object as _, ObjectSymbol as _};
    let Ok(f) = object::File::parse(data) else {
        return Vec::new();
    };
    let mut v: Vec<String> = f
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && s.is_global() && s.is_definition())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_names() {
        assert_eq!(name_from_patch(Path::new("/x/xsa-1.patch")), "xsa-1");
        assert_eq!(name_from_patch(Path::new("a b.c.diff")), "a-b-c");
        assert_eq!(name_from_patch(Path::new("plain")), "plain");
        assert_eq!(
            name_from_patch(Path::new(&"x".repeat(300))).len(),
            MAX_NAME_LEN
        );
    }
}
