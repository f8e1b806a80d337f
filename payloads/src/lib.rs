//! Rust re-implementation of the diff engine of Xen's livepatch-build-tools
//! (`create-diff-object`): compares an original and a patched object file
//! (built with `-ffunction-sections -fdata-sections`) and produces a
//! relocatable object holding the changed and new code, the special-section
//! entries that belong to it, and the `.livepatch.funcs` metadata the
//! hypervisor's loader needs.
//!
//! Pipeline: [`elf`] (read) → [`analysis`] (units, relocation targets) →
//! [`correlate`] (twins) → [`compare`] (SAME / CHANGED / NEW) → [`include`]
//! (+ [`special`]) → [`output`] (write), with [`symtab`] resolving
//! references against the hypervisor and [`report`] explaining the result.
//!
//! ```no_run
//! use payloads::{diff_objects, DiffOptions, symtab::XenSymbols};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let orig = std::fs::read("original/foo.o")?;
//! let patched = std::fs::read("patched/foo.o")?;
//! let xen = XenSymbols::parse(&std::fs::read("xen-syms")?, "xen-syms")?;
//! let out = diff_objects(&orig, &patched, &xen, &DiffOptions::new("foo.o"))?;
//! if let Some(bytes) = out.object_bytes {
//!     std::fs::write("output/foo.o", bytes)?;
//! }
//! print!("{}", out.report.to_text()?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod compare;
pub mod correlate;
pub mod driver;
pub mod elf;
pub mod include;
pub mod insn;
pub mod names;
pub mod output;
pub mod parallel;
pub mod report;
pub mod sign;
pub mod special;
pub mod strtab;
pub mod symtab;

use analysis::{Analysis, AnalysisError, SecKind};
use compare::{is_anonymous, is_local_readonly_object, is_readonly_object, Status};
use correlate::CorrelateError;
use elf::{ElfError, ElfObject};
use include::{IncludeError, Why};
use output::{OutputError, OutputOptions};
use report::{ExternalRef, FuncPatch, Item, ItemKind, Outcome, Problem, Report, SpecialInfo};
use special::SpecialSizes;
use symtab::XenSymbols;

/// Options of [`diff_objects`].
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Name of the object used in messages and the report (e.g. `common/foo.o`).
    pub name: String,
    /// Entry sizes of the special tables.
    pub special_sizes: SpecialSizes,
    /// Output policy.
    pub output: OutputOptions,
    /// Collect debug lines in the report.
    pub debug: bool,
    /// The original and patched files, to name the one that is malformed
    /// (default: `<name> (original)` and `<name> (patched)`).
    pub files: Option<(String, String)>,
}

impl DiffOptions {
    /// Defaults for an object called `name`.
    pub fn new(name: &str) -> Self {
        DiffOptions {
            name: name.to_string(),
            special_sizes: SpecialSizes::default(),
            output: OutputOptions::default(),
            debug: false,
            files: None,
        }
    }
}

/// Result of a successful diff.
#[derive(Debug, Clone)]
pub struct DiffOutput {
    /// The payload object, or `None` when nothing changed (exit code 3).
    pub object_bytes: Option<Vec<u8>>,
    /// What was found and why.
    pub report: Report,
}

/// Errors of [`diff_objects`].
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// An input object could not be read.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// An input object could not be analysed.
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// The objects do not belong together.
    #[error(
        "{orig} and {patched} differ in {what}; they must come from the same build configuration"
    )]
    Mismatch {
        /// Original file.
        orig: String,
        /// Patched file.
        patched: String,
        /// Differing header field.
        what: String,
    },
    /// Correlation failed.
    #[error(transparent)]
    Correlate(#[from] CorrelateError),
    /// Inclusion failed.
    #[error(transparent)]
    Include(#[from] IncludeError),
    /// Writing failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The change cannot be turned into a payload.
    #[error("{} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Unpatchable {
        /// All problems found.
        problems: Vec<Problem>,
        /// The report as far as it got.
        report: Box<Report>,
    },
}

impl DiffError {
    /// Process exit code, as `create-diff-object`: 1 for errors, 2 for
    /// unpatchable differences.
    pub fn exit_code(&self) -> i32 {
        match self {
            DiffError::Unpatchable { problems, .. } => {
                if problems.iter().any(Problem::is_tool_error) {
                    1
                } else {
                    2
                }
            }
            DiffError::Correlate(_) => 2,
            _ => 1,
        }
    }
}

fn orig_name(opts: &DiffOptions) -> String {
    match &opts.files {
        Some((orig, _)) => orig.clone(),
        None => format!("{} (original)", opts.name),
    }
}

fn patched_name(opts: &DiffOptions) -> String {
    match &opts.files {
        Some((_, patched)) => patched.clone(),
        None => format!("{} (patched)", opts.name),
    }
}

/// Compare `orig` and `patched` and build the payload object.
pub fn diff_objects(
    orig: &[u8],
    patched: &[u8],
    xen: &XenSymbols,
    opts: &DiffOptions,
) -> Result<DiffOutput, DiffError> {
    diff_objects_with(orig, patched, xen, opts, || {})
}

/// [`diff_objects`], calling `after_parse` once both objects are parsed:
/// from then on only their section contents and string tables are read
/// (headers, symbol tables and relocation entries have been copied into
/// the model), so a caller that mapped the files may release the rest.
pub fn diff_objects_with(
    orig: &[u8],
    patched: &[u8],
    xen: &XenSymbols,
    opts: &DiffOptions,
    after_parse: impl FnOnce(),
) -> Result<DiffOutput, DiffError> {
    let (oname, pname) = (orig_name(opts), patched_name(opts));
    let big = orig.len() + patched.len() >= parallel::MIN_BYTES;
    let (o, p) = parallel::join(
        big,
        || ElfObject::parse(orig, &oname),
        || ElfObject::parse(patched, &pname),
    );
    let (o, p) = (o?, p?);
    after_parse();
    for (what, a, b) in [
        ("ELF OS/ABI", u64::from(o.os_abi), u64::from(p.os_abi)),
        (
            "ELF ABI version",
            u64::from(o.abi_version),
            u64::from(p.abi_version),
        ),
        ("ELF flags", u64::from(o.e_flags), u64::from(p.e_flags)),
    ] {
        if a != b {
            return Err(DiffError::Mismatch {
                orig: oname,
                patched: pname,
                what: what.to_string(),
            });
        }
    }
    let (o, p) = parallel::join(big, || Analysis::new(o), || Analysis::new(p));
    let (o, p) = (o?, p?);
    let corr = correlate::correlate(&p, &o)?;
    let cmp = compare::compare(&p, &o, &corr);

    let mut report = Report::new(&opts.name);
    report.notes.extend(corr.notes.iter().cloned());
    report.warnings.extend(corr.warnings.iter().cloned());
    let mut problems: Vec<Problem> = Vec::new();

    // Changes that cannot be patched: writable data, global read-only objects.
    for (u, st) in cmp.units.iter().enumerate() {
        let Some(unit) = p.units.get(u) else { continue };
        let grouped = p
            .obj
            .sections
            .get(unit.sec)
            .map(|s| s.grouped)
            .unwrap_or(false);
        if st.status != Status::Same && grouped {
            problems.push(Problem::GroupedSection {
                section: p.sec_name(unit.sec).to_string(),
            });
        }
        if st.status != Status::Changed || p.unit_is_func(u) {
            continue;
        }
        let mergeable = matches!(p.kinds.get(unit.sec), Some(SecKind::Mergeable { .. }));
        let ro_anon = is_anonymous(&p, u) && p.is_read_only(unit.sec);
        if mergeable || ro_anon || is_local_readonly_object(&p, u) {
            continue;
        }
        let (symbol, section) = (p.unit_name(u), p.sec_name(unit.sec).to_string());
        let detail = st
            .reasons
            .first()
            .cloned()
            .unwrap_or_else(|| "changed".into());
        problems.push(if is_readonly_object(&p, u) {
            Problem::ChangedGlobalConst {
                symbol,
                section,
                detail,
            }
        } else {
            Problem::ChangedData {
                symbol,
                section,
                detail,
            }
        });
    }
    // Init sections cannot be patched.
    for (si, kind) in p.kinds.iter().enumerate() {
        if *kind != SecKind::Init {
            continue;
        }
        let name = p.sec_name(si);
        let differs = match corr
            .sec_p2o
            .get(si)
            .copied()
            .flatten()
            .and_then(|os| o.obj.sections.get(os))
        {
            Some(os) => p
                .obj
                .sections
                .get(si)
                .map(|s| s.data != os.data || s.size != os.size)
                .unwrap_or(false),
            None => true,
        };
        if differs {
            report.warnings.push(format!(
                "init-only section {name} differs; init code and data are never patched"
            ));
        }
    }

    let inc = include::include(&p, &cmp, &opts.special_sizes)?;
    report.warnings.extend(inc.warnings.iter().cloned());
    let plan = output::plan(&p, &o, &corr, &cmp, &inc, xen, &opts.output)?;
    problems.extend(plan.problems.iter().cloned());
    report.warnings.extend(plan.warnings.iter().cloned());

    // Report: items.
    for (u, unit) in p.units.iter().enumerate() {
        let st = cmp.units.get(u);
        let included = inc.unit_in.get(u).copied().unwrap_or(false);
        let changed = st.map(|s| s.status == Status::Changed).unwrap_or(false);
        if !included && !changed {
            continue;
        }
        let kind = match p.kinds.get(unit.sec) {
            Some(SecKind::Mergeable { strings: true, .. }) => ItemKind::Strings,
            Some(SecKind::Mergeable { .. }) => ItemKind::Data,
            _ if p.unit_is_func(u) => ItemKind::Function,
            _ if unit.owner.is_some() => ItemKind::Object,
            _ => ItemKind::Data,
        };
        report.items.push(Item {
            name: p.unit_name(u),
            payload_name: unit
                .owner
                .and_then(|s| plan.defined_name(s))
                .map(str::to_string),
            kind,
            status: st.map(|s| s.status.label()).unwrap_or("NEW").to_string(),
            section: p.sec_name(unit.sec).to_string(),
            size: unit.end - unit.start,
            changes: st.map(|s| s.reasons.clone()).unwrap_or_default(),
            included,
            why: if included {
                inc.unit_why
                    .get(u)
                    .map(|w| w.iter().map(Why::to_string).collect())
                    .unwrap_or_default()
            } else {
                vec!["not used by included code, or refused (see errors)".to_string()]
            },
        });
    }
    for (sec, ranges) in &inc.ranges {
        let kind = match p.kinds.get(*sec) {
            Some(SecKind::Hook) => ItemKind::Hook,
            _ => ItemKind::Special,
        };
        let mut why: Vec<String> = inc
            .range_why
            .range((*sec, 0)..=(*sec, u64::MAX))
            .map(|(_, w)| w.to_string())
            .collect();
        why.dedup();
        report.items.push(Item {
            name: p.sec_name(*sec).to_string(),
            payload_name: None,
            kind,
            status: "NEW".into(),
            section: p.sec_name(*sec).to_string(),
            size: ranges.iter().map(|(s, e)| e - s).sum(),
            changes: Vec::new(),
            included: true,
            why,
        });
    }
    for e in &plan.externals {
        report.externals.push(ExternalRef {
            name: e.name.clone(),
            status: if e.defined_in_object {
                "SAME"
            } else {
                "undefined"
            }
            .to_string(),
            addr: e.addr,
            in_lower_payload: e.in_lower_payload,
            referenced_by: e.referrers.clone(),
        });
    }
    for f in &plan.funcs {
        report.funcs.push(FuncPatch {
            name: f.name.clone(),
            old_addr: f.old_addr,
            old_size: f.old_size,
            new_size: f.new_size,
        });
    }
    for s in &inc.special {
        report.special.push(SpecialInfo {
            section: s.section.clone(),
            entries: s.entries,
            kept: s.kept,
            functions: s.functions.clone(),
        });
    }
    if opts.debug {
        for (u, st) in cmp.units.iter().enumerate() {
            if st.status != Status::Same {
                report.debug.push(format!(
                    "{} {} in {}: {}",
                    st.status.label(),
                    p.unit_name(u),
                    p.sec_name(p.units.get(u).map(|x| x.sec).unwrap_or(0)),
                    st.reasons.join("; ")
                ));
            }
        }
        report.debug.push(format!(
            "{} sections, {} symbols, {} units in the patched object",
            p.obj.sections.len(),
            p.obj.symbols.len(),
            p.units.len()
        ));
    }

    problems.sort_by_key(|p| p.to_string());
    problems.dedup();
    if !problems.is_empty() {
        report.refuse(problems.iter().map(Problem::to_string).collect());
        return Err(DiffError::Unpatchable {
            problems,
            report: Box::new(report),
        });
    }

    let new_globals = p.units.iter().enumerate().any(|(u, unit)| {
        inc.unit_in.get(u).copied().unwrap_or(false)
            && cmp.units.get(u).map(|s| s.status) == Some(Status::New)
            && unit
                .owner
                .and_then(|o| p.obj.symbols.get(o))
                .map(|s| !s.is_local())
                .unwrap_or(false)
    });
    let hooks = inc
        .ranges
        .keys()
        .any(|s| matches!(p.kinds.get(*s), Some(SecKind::Hook)));
    if plan.funcs.is_empty() && !new_globals && !hooks {
        report.outcome = Outcome::NoChange;
        return Ok(DiffOutput {
            object_bytes: None,
            report,
        });
    }
    let bytes = plan.write()?;
    report.outcome = Outcome::Changed;
    Ok(DiffOutput {
        object_bytes: Some(bytes),
        report,
    })
}
