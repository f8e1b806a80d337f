//! The report `livepatch-build` ends with: the inputs (tree, hypervisor,
//! dependencies), which objects differ between the builds, the diff
//! engine's report for each of them (per symbol: SAME / CHANGED / NEW and
//! why it is in the payload), a per-function summary over all objects, and
//! the payload written.

use std::fmt::Write as _;

use crate::report::{ItemKind, Report};

/// Errors rendering the report.
#[derive(Debug, thiserror::Error)]
pub enum BuildReportError {
    /// Formatting failed.
    #[error("report formatting failed")]
    Fmt(#[from] std::fmt::Error),
    /// An engine report could not be rendered.
    #[error(transparent)]
    Engine(#[from] crate::report::ReportError),
}

/// What happened to one object that differs between the builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectStatus {
    /// Functional change: its diff object is in the payload.
    Changed,
    /// Bytes differ, nothing to patch.
    NoChange,
    /// The change cannot be patched.
    Refused,
    /// The diff failed.
    Error,
    /// New source file: the whole object is in the payload.
    New,
}

impl ObjectStatus {
    fn label(self) -> &'static str {
        match self {
            ObjectStatus::Changed => "changed",
            ObjectStatus::NoChange => "no functional change",
            ObjectStatus::Refused => "REFUSED",
            ObjectStatus::Error => "ERROR",
            ObjectStatus::New => "new object, included whole",
        }
    }
}

/// One object.
#[derive(Debug, Clone)]
pub struct ObjectResult {
    /// Path relative to the build directory (`common/memory.o`).
    pub name: String,
    /// Outcome.
    pub status: ObjectStatus,
    /// The engine's report (changed, unchanged or refused objects).
    pub report: Option<Report>,
    /// Error message (status `Error`).
    pub error: Option<String>,
    /// Global functions of a new object.
    pub new_functions: Vec<String>,
}

/// The payload written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSummary {
    /// File name (in the output directory).
    pub file: String,
    /// Size in bytes.
    pub size: usize,
    /// Its build-id (hex).
    pub build_id: String,
    /// `.livepatch.funcs` entries.
    pub funcs: usize,
    /// Hook kinds present.
    pub hooks: Vec<String>,
    /// Sections holding the payload's own state (non-empty: the loader
    /// refuses to re-apply it after a revert).
    pub state_sections: Vec<String>,
}

/// Overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildOutcome {
    /// Payload written (exit 0).
    Built,
    /// Refused: the change cannot be live-patched (exit 2).
    Unpatchable,
    /// Nothing to patch (exit 3).
    NoChanges,
    /// A tool or input error (exit 1).
    Failed,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Payload name.
    pub name: String,
    /// Patch file name (no directory).
    pub patch: String,
    /// Files the patch touches.
    pub patched_files: Vec<String>,
    /// Source tree.
    pub srcdir: String,
    /// Hypervisor ELF the payload is resolved against.
    pub xen_syms: String,
    /// Its build-id (hex).
    pub xen_build_id: String,
    /// `.livepatch.depends` (hex).
    pub depends: String,
    /// `.livepatch.xen_depends` (hex).
    pub xen_depends: String,
    /// `--config`, recorded only.
    pub config: Option<String>,
    /// Payloads below this one (`--depends-payload`, or found by
    /// `--depends` in the output directory), lowest first.
    pub lower_payloads: Vec<String>,
    /// `--base-patch`: the lower payloads' patches both builds include.
    pub base_patches: Vec<String>,
    /// Objects compared between the builds.
    pub compared: usize,
    /// Objects that differ, and new objects.
    pub objects: Vec<ObjectResult>,
    /// Objects that exist only in the original build.
    pub removed: Vec<String>,
    /// The payload, if written.
    pub payload: Option<PayloadSummary>,
    /// Tree check after the build ("unchanged (N files)").
    pub tree: Option<String>,
    /// Warnings of the driver.
    pub warnings: Vec<String>,
    /// Reasons the payload was refused after linking.
    pub problems: Vec<String>,
    /// Outcome.
    pub outcome: BuildOutcome,
}

impl BuildReport {
    /// Human-readable report.
    pub fn to_text(&self) -> Result<String, BuildReportError> {
        let mut s = String::new();
        writeln!(
            s,
            "livepatch-build: payload `{}` from {}",
            self.name, self.patch
        )?;
        writeln!(s, "  patch touches: {}", self.patched_files.join(", "))?;
        writeln!(s, "  source tree:   {}", self.srcdir)?;
        if let Some(t) = &self.tree {
            writeln!(s, "                 {t}")?;
        }
        writeln!(
            s,
            "  hypervisor:    {} (build-id {})",
            self.xen_syms, self.xen_build_id
        )?;
        writeln!(s, "  depends:       {}", self.depends)?;
        writeln!(s, "  xen-depends:   {}", self.xen_depends)?;
        for l in &self.lower_payloads {
            writeln!(s, "  stacked on:    {l}")?;
        }
        if !self.base_patches.is_empty() {
            writeln!(s, "  base patches:  {}", self.base_patches.join(", "))?;
        }
        if let Some(c) = &self.config {
            writeln!(s, "  config:        {c} (recorded, not used)")?;
        }
        let differ = self
            .objects
            .iter()
            .filter(|o| o.status != ObjectStatus::New)
            .count();
        let new = self.objects.len() - differ;
        writeln!(
            s,
            "\nobjects: {} compared, {differ} differ, {new} new, {} removed",
            self.compared,
            self.removed.len()
        )?;
        for o in &self.objects {
            writeln!(s, "  {:<32} {}", o.name, o.status.label())?;
        }
        for r in &self.removed {
            writeln!(
                s,
                "  {r:<32} removed by the patch (its code stays in the hypervisor)"
            )?;
        }

        for o in &self.objects {
            writeln!(s, "\n=== {} ===", o.name)?;
            if let Some(r) = &o.report {
                s.push_str(&r.to_text()?);
            }
            if let Some(e) = &o.error {
                for l in e.lines() {
                    writeln!(s, "  error: {l}")?;
                }
            }
            if o.status == ObjectStatus::New {
                writeln!(
                    s,
                    "  new object: included whole; functions {}",
                    if o.new_functions.is_empty() {
                        "(none)".to_string()
                    } else {
                        o.new_functions.join(", ")
                    }
                )?;
            }
        }

        match self.outcome {
            BuildOutcome::Built | BuildOutcome::NoChanges => self.write_summary(&mut s)?,
            BuildOutcome::Unpatchable | BuildOutcome::Failed => self.write_refusals(&mut s)?,
        }
        for w in &self.warnings {
            writeln!(s, "warning: {w}")?;
        }
        if let Some(p) = &self.payload {
            writeln!(
                s,
                "\npayload: {} ({} bytes, {} function{}{})",
                p.file,
                p.size,
                p.funcs,
                if p.funcs == 1 { "" } else { "s" },
                if p.hooks.is_empty() {
                    String::new()
                } else {
                    format!(", hooks: {}", p.hooks.join(", "))
                }
            )?;
            writeln!(s, "  build-id: {}", p.build_id)?;
            if p.state_sections.is_empty() {
                writeln!(
                    s,
                    "  re-apply after revert: yes (no writable data of its own)"
                )?;
            } else {
                writeln!(
                    s,
                    "  re-apply after revert: no, it has writable data of its own ({}); unload it and upload it again",
                    p.state_sections.join(", ")
                )?;
            }
        }
        let result = match self.outcome {
            BuildOutcome::Built => "payload built",
            BuildOutcome::Unpatchable => {
                "refused: the change cannot be live-patched (see the summary)"
            }
            BuildOutcome::NoChanges => "no functional changes: nothing to patch",
            BuildOutcome::Failed => "failed (see errors)",
        };
        writeln!(s, "result: {result}")?;
        Ok(s)
    }

    /// Per symbol, over every object: what the payload does with it.
    fn write_summary(&self, s: &mut String) -> Result<(), BuildReportError> {
        let mut rows = Vec::new();
        for o in &self.objects {
            if let Some(r) = &o.report {
                let patched: Vec<&str> = r.funcs.iter().map(|f| f.name.as_str()).collect();
                for it in &r.items {
                    if !matches!(it.kind, ItemKind::Function | ItemKind::Object) {
                        continue;
                    }
                    let replaces = patched.contains(&it.name.as_str())
                        || it
                            .payload_name
                            .as_deref()
                            .is_some_and(|n| patched.contains(&n));
                    let what = match (it.kind, it.included) {
                        (ItemKind::Function, true) if replaces => "replaces the hypervisor's copy",
                        (ItemKind::Function, true) if it.status == "NEW" => "new code",
                        (_, true) if it.status == "NEW" => "new data",
                        (_, true) => "copied into the payload",
                        (_, false) => "not in the payload",
                    };
                    rows.push((
                        it.status.clone(),
                        it.kind.label(),
                        it.name.clone(),
                        o.name.clone(),
                        what,
                    ));
                }
            }
            for f in &o.new_functions {
                rows.push((
                    "NEW".into(),
                    "function",
                    f.clone(),
                    o.name.clone(),
                    "new code",
                ));
            }
        }
        if !rows.is_empty() {
            writeln!(s, "\nsummary:")?;
            for (st, kind, name, obj, what) in rows {
                writeln!(s, "  {st:<7} {kind:<8} {name:<32} {obj:<24} {what}")?;
            }
        }
        Ok(())
    }

    /// A build that wrote no payload: what was refused (or failed) and why,
    /// and nothing about what a payload would have contained.
    fn write_refusals(&self, s: &mut String) -> Result<(), BuildReportError> {
        writeln!(s, "\nsummary: no payload written")?;
        for o in &self.objects {
            let label = match o.status {
                ObjectStatus::Refused => "REFUSED",
                ObjectStatus::Error => "ERROR",
                _ => continue,
            };
            let reasons: Vec<&str> = match (&o.report, &o.error) {
                (Some(r), _) if !r.problems.is_empty() => {
                    r.problems.iter().map(String::as_str).collect()
                }
                (_, Some(e)) => e.lines().collect(),
                _ => vec!["the diff failed"],
            };
            for why in reasons {
                writeln!(s, "  {label:<7} {}: {why}", o.name)?;
            }
        }
        for p in &self.problems {
            writeln!(s, "  REFUSED {}: {p}", self.name)?;
        }
        Ok(())
    }
}
