//! Inclusion: which parts of the patched object go into the payload, and why.
//!
//! Roots are the changed functions, new globals and hook sections. From
//! there every relocation target is followed: new code and data, cold parts
//! of included functions, copied read-only locals and anonymous data
//! (string literals, jump tables, constants) are pulled in; everything else
//! that is referenced stays in the hypervisor and becomes an undefined
//! symbol (see `output`). Special tables are re-planned after each round
//! because their kept entries depend on the included code.

use std::collections::{BTreeMap, VecDeque};

use crate::analysis::{Analysis, SecKind, Target, UnitIdx};
use crate::compare::{is_anonymous, is_local_readonly_object, Comparison, Status};
use crate::elf::SecIdx;
use crate::special::{self, merge_ranges, SpecialError, SpecialSizes, SpecialSummary};

/// Errors raised while deciding what to include.
#[derive(Debug, thiserror::Error)]
pub enum IncludeError {
    /// A special section could not be regenerated.
    #[error(transparent)]
    Special(#[from] SpecialError),
}

/// Why a unit or range is in the payload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// The function changed.
    Changed,
    /// A new global symbol (other objects or payloads may use it).
    NewGlobal,
    /// Referenced by the named function/object/section.
    ReferencedBy(String),
    /// Cold part of the named (included) function.
    ColdPartOf(String),
    /// Hook section.
    Hook,
    /// Special-section entry belonging to the named function.
    SpecialEntry(String),
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Changed => write!(f, "changed"),
            Why::NewGlobal => write!(f, "new global"),
            Why::ReferencedBy(x) => write!(f, "referenced by {x}"),
            Why::ColdPartOf(x) => write!(f, "cold part of {x}"),
            Why::Hook => write!(f, "hook section"),
            Why::SpecialEntry(x) => write!(f, "entries for {x}"),
        }
    }
}

/// The inclusion decision.
#[derive(Debug, Clone)]
pub struct Inclusion {
    /// Included patched units.
    pub unit_in: Vec<bool>,
    /// Reasons per unit (deduplicated, in discovery order).
    pub unit_why: Vec<Vec<Why>>,
    /// Included ranges of special, companion and hook sections.
    pub ranges: BTreeMap<SecIdx, Vec<(u64, u64)>>,
    /// Reason per range (section, start).
    pub range_why: BTreeMap<(SecIdx, u64), Why>,
    /// Special-section summaries.
    pub special: Vec<SpecialSummary>,
    /// Warnings.
    pub warnings: Vec<String>,
}

struct State<'p, 'a> {
    p: &'p Analysis<'a>,
    cmp: &'p Comparison,
    inc: Inclusion,
    queue: VecDeque<UnitIdx>,
}

impl State<'_, '_> {
    fn add_unit(&mut self, u: UnitIdx, why: Why) {
        let Some(flag) = self.inc.unit_in.get_mut(u) else {
            return;
        };
        if let Some(list) = self.inc.unit_why.get_mut(u) {
            // A changed function is in because it changed; who else refers
            // to it is noise.
            let changed_root = list.first() == Some(&Why::Changed);
            if !changed_root && !list.contains(&why) && list.len() < 8 {
                list.push(why);
            }
        }
        if !*flag {
            *flag = true;
            self.queue.push_back(u);
            if is_anonymous(self.p, u) {
                let same = self
                    .cmp
                    .units
                    .get(u)
                    .map(|s| s.status == Status::Same)
                    .unwrap_or(false);
                if let Some(unit) = self.p.units.get(u) {
                    if same && !self.p.is_read_only(unit.sec) {
                        self.inc.warnings.push(format!(
                            "copying writable anonymous data {} into the payload: the copy does not share state with the hypervisor's",
                            self.p.sec_name(unit.sec)
                        ));
                    }
                }
            }
        }
    }

    fn status(&self, u: UnitIdx) -> Status {
        self.cmp
            .units
            .get(u)
            .map(|s| s.status)
            .unwrap_or(Status::New)
    }

    fn handle_target(&mut self, t: Target, referrer: &str) {
        let p = self.p;
        match t {
            Target::Sym { sym, .. } => {
                let Some(tu) = p.unit_of_sym(sym) else {
                    if let Some(sec) = p.obj.symbols.get(sym).and_then(|s| s.defined_in()) {
                        if matches!(p.kinds.get(sec), Some(SecKind::Init)) {
                            self.inc.warnings.push(format!(
                                "{referrer} references `{}` in init-only section {}, which the hypervisor may have freed",
                                p.sym_name(sym),
                                p.sec_name(sec)
                            ));
                        }
                    }
                    return;
                };
                let st = self.status(tu);
                let cold = p.cold_parent.get(sym).copied().flatten().is_some();
                let copy = st == Status::New
                    || cold
                    || (st == Status::Changed && (p.unit_is_func(tu) || is_local_readonly_object(p, tu)));
                if copy {
                    self.add_unit(tu, Why::ReferencedBy(referrer.to_string()));
                }
            }
            Target::Sec { sec, off, .. } => match p.kinds.get(sec) {
                Some(SecKind::Plain | SecKind::Mergeable { .. }) => {
                    let r = p.units_of(sec);
                    let tu = p.unit_at(sec, off).or_else(|| (r.len() == 1).then_some(r.start));
                    match tu {
                        Some(tu) => self.add_unit(tu, Why::ReferencedBy(referrer.to_string())),
                        None => self.inc.warnings.push(format!(
                            "{referrer} references {}{off:+#x}, outside any symbol",
                            p.sec_name(sec)
                        )),
                    }
                }
                Some(SecKind::Init) => self.inc.warnings.push(format!(
                    "{referrer} references init-only section {}, which the hypervisor may have freed",
                    p.sec_name(sec)
                )),
                _ => {}
            },
            Target::None => {}
        }
    }

    fn visit(&mut self, u: UnitIdx) {
        let p = self.p;
        let name = p.unit_name(u);
        if let Some(owner) = p.units.get(u).and_then(|x| x.owner) {
            if let Some(children) = p.children.get(&owner) {
                for &c in children {
                    if let Some(cu) = p.unit_of_sym(c) {
                        self.add_unit(cu, Why::ColdPartOf(name.clone()));
                    }
                }
            }
        }
        let targets: Vec<Target> = p.unit_relocs(u).map(|(_, t)| t).collect();
        for t in targets {
            self.handle_target(t, &name);
        }
    }

    fn add_range(&mut self, sec: SecIdx, start: u64, end: u64, why: Why) -> bool {
        let list = self.inc.ranges.entry(sec).or_default();
        if list
            .iter()
            .any(|&(s, e)| s <= start && end <= e && !(s == e && start != s))
        {
            return false;
        }
        list.push((start, end));
        let merged = merge_ranges(std::mem::take(list));
        *list = merged;
        self.inc
            .range_why
            .entry((sec, start))
            .or_insert(why.clone());
        let referrer = match &why {
            Why::SpecialEntry(f) => format!("{} entry of {f}", self.p.sec_name(sec)),
            _ => self.p.sec_name(sec).to_string(),
        };
        let targets: Vec<Target> = self
            .p
            .range_relocs(sec, start, end)
            .map(|(_, t)| t)
            .collect();
        for t in targets {
            self.handle_target(t, &referrer);
        }
        true
    }
}

/// Decide what the payload contains.
pub fn include(
    p: &Analysis<'_>,
    cmp: &Comparison,
    sizes: &SpecialSizes,
) -> Result<Inclusion, IncludeError> {
    let n = p.units.len();
    let mut st = State {
        p,
        cmp,
        inc: Inclusion {
            unit_in: vec![false; n],
            unit_why: vec![Vec::new(); n],
            ranges: BTreeMap::new(),
            range_why: BTreeMap::new(),
            special: Vec::new(),
            warnings: Vec::new(),
        },
        queue: VecDeque::new(),
    };
    for u in 0..n {
        let status = st.status(u);
        let owner = p.units.get(u).and_then(|x| x.owner);
        let is_cold = owner
            .and_then(|o| p.cold_parent.get(o).copied().flatten())
            .is_some();
        if status == Status::Changed && p.unit_is_func(u) && !is_cold {
            st.add_unit(u, Why::Changed);
        }
        if status == Status::New {
            if let Some(sym) = owner.and_then(|o| p.obj.symbols.get(o)) {
                if !sym.is_local() {
                    st.add_unit(u, Why::NewGlobal);
                }
            }
        }
    }
    for (si, kind) in p.kinds.iter().enumerate() {
        if *kind == SecKind::Hook {
            let size = p.obj.sections.get(si).map(|s| s.size).unwrap_or(0);
            if size > 0 {
                st.add_range(si, 0, size, Why::Hook);
            }
        }
    }
    loop {
        while let Some(u) = st.queue.pop_front() {
            st.visit(u);
        }
        let plan = special::plan(p, &st.inc.unit_in, sizes)?;
        let mut added = false;
        for (sec, ranges) in &plan.ranges {
            for &(s, e) in ranges {
                let who = plan
                    .kept_for
                    .range((*sec, s)..(*sec, e.max(s + 1)))
                    .next()
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                if st.add_range(*sec, s, e, Why::SpecialEntry(who)) {
                    added = true;
                }
            }
        }
        st.inc.special = plan.summaries;
        if !added && st.queue.is_empty() {
            break;
        }
    }
    Ok(st.inc)
}
