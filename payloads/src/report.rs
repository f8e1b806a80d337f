//! What the diff found: per included symbol its status (SAME / CHANGED /
//! NEW) and why it is in the payload, the references left to the
//! hypervisor, the `.livepatch.funcs` entries, special sections, problems
//! and warnings. Rendered as text or JSON; both are deterministic.

use std::fmt::Write as _;

use serde::Serialize;

/// Errors rendering a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Formatting failed.
    #[error("report formatting failed")]
    Fmt(#[from] std::fmt::Error),
    /// JSON serialisation failed.
    #[error("cannot write the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Something that makes the patch impossible to build (or to build safely).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Writable data changed (its contents are live state).
    ChangedData {
        /// Symbol (or section for anonymous data).
        symbol: String,
        /// Section.
        section: String,
        /// First difference.
        detail: String,
    },
    /// A global read-only object changed (users in other objects cannot be
    /// redirected to a copy).
    ChangedGlobalConst {
        /// Symbol (or section for anonymous data).
        symbol: String,
        /// Section.
        section: String,
        /// First difference.
        detail: String,
    },
    /// A changed function is too small for the 5-byte jump.
    TooSmall {
        /// Function.
        function: String,
        /// Size in the hypervisor.
        size: u64,
        /// Minimum size.
        needed: u64,
    },
    /// A symbol that must exist in the hypervisor was not found.
    NotInXenSyms {
        /// Name looked up (`file#name` for statics).
        symbol: String,
        /// Who needs it.
        needed_by: String,
    },
    /// Several hypervisor symbols have that name.
    AmbiguousInXenSyms {
        /// Name looked up.
        symbol: String,
        /// Number of matches.
        count: usize,
    },
    /// A new global symbol already exists in the hypervisor.
    NewSymbolClash {
        /// Symbol.
        symbol: String,
    },
    /// A relocation the payload loader does not handle.
    UnsupportedRelocation {
        /// Section and offset.
        location: String,
        /// Type name.
        r_type: String,
    },
    /// A relocation that cannot be expressed in the payload.
    BadReference {
        /// Section and offset.
        location: String,
        /// What is wrong.
        what: String,
    },
    /// A changed or new section belongs to a COMDAT group.
    GroupedSection {
        /// Section.
        section: String,
    },
}

impl Problem {
    /// Tool/lookup errors map to exit code 1, unpatchable differences to 2
    /// (as `create-diff-object`'s `ERROR()` and `DIFF_FATAL()`).
    pub fn is_tool_error(&self) -> bool {
        matches!(
            self,
            Problem::NotInXenSyms { .. }
                | Problem::AmbiguousInXenSyms { .. }
                | Problem::BadReference { .. }
        )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::ChangedData { symbol, section, detail } => write!(
                f,
                "changed writable data `{symbol}` in {section} ({detail}): its contents are live state the payload cannot replace; add a new variable or change it from a load hook"
            ),
            Problem::ChangedGlobalConst { symbol, section, detail } => write!(
                f,
                "changed read-only object `{symbol}` in {section} ({detail}) is global: its users in other objects would keep the hypervisor's copy; make it static, or add a new object and change its users"
            ),
            Problem::TooSmall { function, size, needed } => write!(
                f,
                "changed function `{function}` is {size} bytes, too small to patch (needs at least {needed})"
            ),
            Problem::NotInXenSyms { symbol, needed_by } => write!(
                f,
                "`{symbol}` (needed by {needed_by}) not found in XEN-SYMS; was the hypervisor built from the same sources?"
            ),
            Problem::AmbiguousInXenSyms { symbol, count } => {
                write!(f, "`{symbol}` matches {count} symbols in XEN-SYMS; cannot tell which one to use")
            }
            Problem::NewSymbolClash { symbol } => write!(
                f,
                "new global `{symbol}` already exists in XEN-SYMS; the loader would refuse the payload (-EEXIST)"
            ),
            Problem::UnsupportedRelocation { location, r_type } => write!(
                f,
                "{location}: relocation {r_type} is not supported by the payload loader (R_X86_64_NONE, 64, PC32, PLT32)"
            ),
            Problem::BadReference { location, what } => write!(f, "{location}: {what}"),
            Problem::GroupedSection { section } => {
                write!(f, "changed or new section {section} is part of a COMDAT group; not supported")
            }
        }
    }
}

/// Kind of an included item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// Function.
    Function,
    /// Data object.
    Object,
    /// String literals.
    Strings,
    /// Other anonymous data (jump table, constants).
    Data,
    /// Special-section entries.
    Special,
    /// Hook section.
    Hook,
}

impl ItemKind {
    /// Lower-case label.
    pub fn label(self) -> &'static str {
        match self {
            ItemKind::Function => "function",
            ItemKind::Object => "object",
            ItemKind::Strings => "strings",
            ItemKind::Data => "data",
            ItemKind::Special => "special",
            ItemKind::Hook => "hook",
        }
    }
}

/// One item in the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Name in the patched object.
    pub name: String,
    /// Name in the payload's symbol table (statics are `file#name`).
    pub payload_name: Option<String>,
    /// Kind.
    pub kind: ItemKind,
    /// SAME / CHANGED / NEW.
    pub status: String,
    /// Section in the patched object.
    pub section: String,
    /// Size in bytes.
    pub size: u64,
    /// Why it changed.
    pub changes: Vec<String>,
    /// In the payload (changed items may be listed without being included).
    pub included: bool,
    /// Why it is (or is not) included.
    pub why: Vec<String>,
}

/// A reference left to the hypervisor (an undefined symbol in the payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExternalRef {
    /// Run-time name the loader resolves.
    pub name: String,
    /// Status of the symbol in this object (SAME, or "undefined" for externs).
    pub status: String,
    /// Address in XEN-SYMS, if found.
    pub addr: Option<u64>,
    /// Exported by a payload lower in the stack (resolved at load).
    pub in_lower_payload: bool,
    /// Users in the payload.
    pub referenced_by: Vec<String>,
}

/// One `.livepatch.funcs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FuncPatch {
    /// Name string stored in the entry.
    pub name: String,
    /// Address of the old function (from XEN-SYMS).
    pub old_addr: u64,
    /// Size of the old function.
    pub old_size: u64,
    /// Size of the new function.
    pub new_size: u64,
}

/// Summary of one special section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecialInfo {
    /// Section name.
    pub section: String,
    /// Entries in the input.
    pub entries: usize,
    /// Entries kept.
    pub kept: usize,
    /// Functions they belong to.
    pub functions: Vec<String>,
}

/// Outcome of the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Payload object written.
    Changed,
    /// No functional change (exit 3).
    NoChange,
    /// Refused (see problems).
    Refused,
}

/// Full report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Object name (as given in options).
    pub object: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Included items, in object order.
    pub items: Vec<Item>,
    /// References resolved against the hypervisor, sorted by name.
    pub externals: Vec<ExternalRef>,
    /// `.livepatch.funcs` entries.
    pub funcs: Vec<FuncPatch>,
    /// Special sections.
    pub special: Vec<SpecialInfo>,
    /// Correlation notes.
    pub notes: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Problems (non-empty iff refused).
    pub problems: Vec<String>,
    /// Debug lines (only with the debug option; not in the JSON report).
    #[serde(skip)]
    pub debug: Vec<String>,
}

impl Report {
    /// An empty report for `object`.
    pub fn new(object: &str) -> Self {
        Report {
            object: object.to_string(),
            outcome: Outcome::NoChange,
            items: Vec::new(),
            externals: Vec::new(),
            funcs: Vec::new(),
            special: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
            problems: Vec::new(),
            debug: Vec::new(),
        }
    }

    /// Mark the report refused for `problems`. A refused diff produces no
    /// payload, so the report keeps only what changed and why it was
    /// refused: nothing is "included", no `.livepatch.funcs` entry or
    /// reference to the hypervisor is listed.
    pub fn refuse(&mut self, problems: Vec<String>) {
        self.outcome = Outcome::Refused;
        self.problems = problems;
        self.items.retain(|it| it.status != "SAME");
        for it in &mut self.items {
            it.included = false;
            it.payload_name = None;
            it.why.clear();
        }
        self.externals.clear();
        self.funcs.clear();
        self.special.clear();
    }

    /// Human-readable report.
    pub fn to_text(&self) -> Result<String, ReportError> {
        let mut s = String::new();
        let outcome = match self.outcome {
            Outcome::Changed => "changed",
            Outcome::NoChange => "no functional change",
            Outcome::Refused => "refused",
        };
        writeln!(s, "{}: {outcome}", self.object)?;
        for it in &self.items {
            let pname = match &it.payload_name {
                Some(n) if *n != it.name => format!(" (as {n})"),
                _ => String::new(),
            };
            let place = if it.section == it.name {
                format!("{} bytes", it.size)
            } else {
                format!("{}, {} bytes", it.section, it.size)
            };
            writeln!(
                s,
                "  {:<7} {:<8} {}{pname} [{place}]",
                it.status,
                it.kind.label(),
                it.name
            )?;
            for c in &it.changes {
                writeln!(s, "          changed: {c}")?;
            }
            if !it.why.is_empty() {
                let label = if it.included {
                    "included"
                } else {
                    "not included"
                };
                writeln!(s, "          {label}: {}", it.why.join("; "))?;
            }
        }
        if !self.externals.is_empty() {
            writeln!(s, "  references to the hypervisor:")?;
            for e in &self.externals {
                let addr = match e.addr {
                    Some(a) => format!("{a:#x}"),
                    None if e.in_lower_payload => "a lower payload".into(),
                    None => "unresolved".into(),
                };
                writeln!(
                    s,
                    "    {:<9} {} @ {addr} (used by {})",
                    e.status,
                    e.name,
                    e.referenced_by.join(", ")
                )?;
            }
        }
        if !self.funcs.is_empty() {
            writeln!(s, "  .livepatch.funcs:")?;
            for f in &self.funcs {
                writeln!(
                    s,
                    "    {} old {:#x} ({} bytes) -> new ({} bytes)",
                    f.name, f.old_addr, f.old_size, f.new_size
                )?;
            }
        }
        for sp in &self.special {
            writeln!(
                s,
                "  special {}: kept {} of {}{}",
                sp.section,
                sp.kept,
                sp.entries,
                if sp.functions.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", sp.functions.join(", "))
                }
            )?;
        }
        for n in &self.notes {
            writeln!(s, "  note: {n}")?;
        }
        for w in &self.warnings {
            writeln!(s, "  warning: {w}")?;
        }
        for p in &self.problems {
            writeln!(s, "  error: {p}")?;
        }
        for d in &self.debug {
            writeln!(s, "  debug: {d}")?;
        }
        Ok(s)
    }

    /// JSON report: the fields in declaration order (stable), without the
    /// debug lines.
    pub fn to_json(&self) -> Result<String, ReportError> {
        let mut j = serde_json::to_string(self)?;
        j.push('\n');
        Ok(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_and_shapes() -> Result<(), ReportError> {
        let mut r = Report::new("a\"b.o");
        r.notes.push("x\ny".into());
        r.debug.push("not in the JSON".into());
        let j = r.to_json()?;
        assert!(j.starts_with("{\"object\":\"a\\\"b.o\",\"outcome\":\"no-change\",\"items\":[]"));
        assert!(j.contains("\"notes\":[\"x\\ny\"]"));
        assert!(j.ends_with(",\"problems\":[]}\n"), "{j}");
        Ok(())
    }
}
