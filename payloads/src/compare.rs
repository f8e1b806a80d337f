//! Comparison of correlated units: bytes, and relocations compared
//! semantically (twin symbol + addend; string literals and mergeable
//! constants by the content they point to). Changes reached through
//! anonymous data (jump tables), copied read-only locals and `.cold` parts
//! are propagated to the functions that own or use them.

use std::collections::VecDeque;

use object::elf;

use crate::analysis::{Analysis, SecKind, Target, UnitIdx};
use crate::correlate::Correlation;
use crate::elf::{reloc_name, SymIdx};
use crate::insn::describe_at;
use crate::parallel;

/// Comparison status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Identical to the original.
    Same,
    /// Exists in the original but differs.
    Changed,
    /// Does not exist in the original.
    New,
}

impl Status {
    /// Upper-case label used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Status::Same => "SAME",
            Status::Changed => "CHANGED",
            Status::New => "NEW",
        }
    }
}

/// Errors raised by comparison (none today; kept for API symmetry).
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Internal inconsistency between analysis and correlation.
    #[error("{file}: internal inconsistency: {what}")]
    Inconsistent {
        /// Object file.
        file: String,
        /// What is inconsistent.
        what: String,
    },
}

/// Status of one patched unit, with the reasons for a change.
#[derive(Debug, Clone)]
pub struct UnitStatus {
    /// Status.
    pub status: Status,
    /// Why it changed (first difference found, propagated causes).
    pub reasons: Vec<String>,
}

/// Result of the comparison, per patched unit.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Indexed like `Analysis::units` of the patched object.
    pub units: Vec<UnitStatus>,
}

/// A read-only local object (`.rodata`, or a RELRO table of addresses): if
/// it changes it is copied into the payload and its users are patched,
/// instead of being refused as a data change.
pub fn is_local_readonly_object(p: &Analysis<'_>, u: UnitIdx) -> bool {
    is_readonly_object(p, u)
        && p.units
            .get(u)
            .and_then(|unit| unit.owner)
            .and_then(|o| p.obj.symbols.get(o))
            .is_some_and(|s| s.is_local())
}

/// A read-only data object, local or global.
pub fn is_readonly_object(p: &Analysis<'_>, u: UnitIdx) -> bool {
    let Some(unit) = p.units.get(u) else {
        return false;
    };
    let Some(sym) = unit.owner.and_then(|o| p.obj.symbols.get(o)) else {
        return false;
    };
    sym.is_object() && p.is_read_only(unit.sec) && !p.is_exec(unit.sec)
}

/// Anonymous unit of a plain section (jump table, compiler constant).
pub fn is_anonymous(p: &Analysis<'_>, u: UnitIdx) -> bool {
    match p.units.get(u) {
        Some(unit) => unit.owner.is_none() && matches!(p.kinds.get(unit.sec), Some(SecKind::Plain)),
        None => false,
    }
}

fn describe_target(an: &Analysis<'_>, t: Target) -> String {
    match t {
        Target::None => "nothing (STN_UNDEF)".to_string(),
        Target::Sym { sym, addend } => {
            if addend == 0 {
                format!("`{}`", an.sym_name(sym))
            } else {
                format!("`{}`{addend:+#x}", an.sym_name(sym))
            }
        }
        Target::Sec { sec, off, .. } => match an.kinds.get(sec) {
            Some(SecKind::Mergeable { strings: true, .. }) => match an.c_string_at(sec, off) {
                Some(s) => format!("string {:?}", String::from_utf8_lossy(s)),
                None => format!("{}{off:+#x}", an.sec_name(sec)),
            },
            _ => format!("{}{off:+#x}", an.sec_name(sec)),
        },
    }
}

fn sym_equiv(p: &Analysis<'_>, o: &Analysis<'_>, c: &Correlation, ps: SymIdx, os: SymIdx) -> bool {
    if c.sym_p2o.get(ps).copied().flatten() == Some(os) {
        return true;
    }
    // Two undefined symbols with the same name.
    match (p.obj.symbols.get(ps), o.obj.symbols.get(os)) {
        (Some(a), Some(b)) => {
            a.defined_in().is_none()
                && b.defined_in().is_none()
                && !a.is_local()
                && !b.is_local()
                && a.name == b.name
        }
        _ => false,
    }
}

/// Do two relocation targets denote the same thing?
pub fn targets_equiv(
    p: &Analysis<'_>,
    o: &Analysis<'_>,
    c: &Correlation,
    tp: Target,
    to: Target,
) -> bool {
    match (tp, to) {
        (Target::None, Target::None) => true,
        (
            Target::Sym {
                sym: ps,
                addend: pa,
            },
            Target::Sym {
                sym: os,
                addend: oa,
            },
        ) => pa == oa && sym_equiv(p, o, c, ps, os),
        (
            Target::Sec {
                sec: psec,
                addend: pa,
                off: poff,
            },
            Target::Sec {
                sec: osec,
                addend: oa,
                off: ooff,
            },
        ) => {
            let fallback = pa == oa && c.sec_p2o.get(psec).copied().flatten() == Some(osec);
            match (p.kinds.get(psec), o.kinds.get(osec)) {
                (
                    Some(SecKind::Mergeable { strings: true, .. }),
                    Some(SecKind::Mergeable { strings: true, .. }),
                ) => match (p.c_string_at(psec, poff), o.c_string_at(osec, ooff)) {
                    (Some(a), Some(b)) => a == b && poff.wrapping_sub(pa) == ooff.wrapping_sub(oa),
                    _ => fallback,
                },
                (
                    Some(SecKind::Mergeable {
                        strings: false,
                        entsize: pe,
                    }),
                    Some(SecKind::Mergeable {
                        strings: false,
                        entsize: oe,
                    }),
                ) if pe == oe && *pe > 0 => {
                    match (p.bytes_at(psec, poff, *pe), o.bytes_at(osec, ooff, *oe)) {
                        (Some(a), Some(b)) => {
                            a == b && poff.wrapping_sub(pa) == ooff.wrapping_sub(oa)
                        }
                        _ => fallback,
                    }
                }
                _ => fallback,
            }
        }
        _ => false,
    }
}

const FLAG_MASK: u64 = !((elf::SHF_GROUP | elf::SHF_INFO_LINK) as u64);

fn compare_unit(p: &Analysis<'_>, o: &Analysis<'_>, c: &Correlation, u: UnitIdx) -> UnitStatus {
    let Some(ou) = c.unit_p2o.get(u).copied().flatten() else {
        return UnitStatus {
            status: Status::New,
            reasons: Vec::new(),
        };
    };
    let (Some(pu), Some(oun)) = (p.units.get(u), o.units.get(ou)) else {
        return UnitStatus {
            status: Status::New,
            reasons: Vec::new(),
        };
    };
    let (Some(ps), Some(os)) = (p.obj.sections.get(pu.sec), o.obj.sections.get(oun.sec)) else {
        return UnitStatus {
            status: Status::New,
            reasons: Vec::new(),
        };
    };
    let changed = |why: String| UnitStatus {
        status: Status::Changed,
        reasons: vec![why],
    };
    if ps.sh_type != os.sh_type
        || ps.flags & FLAG_MASK != os.flags & FLAG_MASK
        || ps.entsize != os.entsize
    {
        return changed(format!(
            "section attributes differ ({} type {:#x} flags {:#x} -> {} type {:#x} flags {:#x})",
            os.name, os.sh_type, os.flags, ps.name, ps.sh_type, ps.flags
        ));
    }
    let plen = pu.end - pu.start;
    let olen = oun.end - oun.start;
    if plen != olen {
        return changed(format!("size {olen:#x} -> {plen:#x}"));
    }
    if !ps.is_nobits() {
        let (a, b) = (p.unit_bytes(u), o.unit_bytes(ou));
        if a != b {
            let at = a
                .iter()
                .zip(b.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let at64 = at as u64;
            if ps.is_exec() {
                let old = describe_at(b, at64);
                let new = describe_at(a, at64);
                return changed(match (old, new) {
                    (Some(old), Some(new)) => format!("code differs: `{old}` -> `{new}`"),
                    _ => format!("code differs at +{at64:#x}"),
                });
            }
            return changed(format!("contents differ at +{at64:#x}"));
        }
    }
    let prel: Vec<_> = p.unit_relocs(u).collect();
    let orel: Vec<_> = o.unit_relocs(ou).collect();
    if prel.len() != orel.len() {
        return changed(format!("{} relocations -> {}", orel.len(), prel.len()));
    }
    for ((pr, pt), (or, ot)) in prel.iter().zip(orel.iter()) {
        let poff = pr.offset - pu.start;
        let ooff = or.offset - oun.start;
        if poff != ooff || pr.r_type != or.r_type {
            return changed(format!(
                "relocation +{ooff:#x} {} -> +{poff:#x} {}",
                reloc_name(or.r_type),
                reloc_name(pr.r_type)
            ));
        }
        if !targets_equiv(p, o, c, *pt, *ot) {
            return changed(format!(
                "reference at +{poff:#x}: {} -> {}",
                describe_target(o, *ot),
                describe_target(p, *pt)
            ));
        }
    }
    UnitStatus {
        status: Status::Same,
        reasons: Vec::new(),
    }
}

/// Compare every patched unit with its twin, then propagate changes.
pub fn compare(p: &Analysis<'_>, o: &Analysis<'_>, c: &Correlation) -> Comparison {
    let mut units: Vec<UnitStatus> = parallel::map(p.units.len(), |u| compare_unit(p, o, c, u));

    // Propagation edges: target unit -> referring units, for targets whose
    // change must be carried by their users.
    let propagates = |t: UnitIdx| is_anonymous(p, t) || is_local_readonly_object(p, t);
    let mut users: Vec<Vec<UnitIdx>> = vec![Vec::new(); p.units.len()];
    for u in 0..p.units.len() {
        for (_, t) in p.unit_relocs(u) {
            let tu = match t {
                Target::Sym { sym, .. } => p.unit_of_sym(sym),
                Target::Sec { sec, off, .. } => {
                    if matches!(p.kinds.get(sec), Some(SecKind::Plain)) {
                        p.unit_at(sec, off)
                    } else {
                        None
                    }
                }
                Target::None => None,
            };
            if let Some(tu) = tu {
                if tu != u && propagates(tu) {
                    if let Some(list) = users.get_mut(tu) {
                        if list.last() != Some(&u) {
                            list.push(u);
                        }
                    }
                }
            }
        }
    }
    // Cold parts carry their changes to the parent function.
    let mut parent_of_unit: Vec<Option<UnitIdx>> = vec![None; p.units.len()];
    for (u, unit) in p.units.iter().enumerate() {
        if let Some(owner) = unit.owner {
            if let Some(parent) = p.cold_parent.get(owner).copied().flatten() {
                if let (Some(pu), Some(slot)) = (p.unit_of_sym(parent), parent_of_unit.get_mut(u)) {
                    *slot = Some(pu);
                }
            }
        }
    }

    let mut queue: VecDeque<UnitIdx> = (0..p.units.len())
        .filter(|&u| {
            units
                .get(u)
                .map(|s| s.status != Status::Same)
                .unwrap_or(false)
        })
        .collect();
    while let Some(t) = queue.pop_front() {
        let tname = p.unit_name(t);
        let t_new = units
            .get(t)
            .map(|s| s.status == Status::New)
            .unwrap_or(false);
        let mut affected: Vec<(UnitIdx, String)> = Vec::new();
        if let Some(parent) = parent_of_unit.get(t).copied().flatten() {
            affected.push((
                parent,
                format!(
                    "its cold part `{tname}` {}",
                    if t_new { "is new" } else { "changed" }
                ),
            ));
        }
        if propagates(t) && !t_new {
            for &user in users.get(t).map(Vec::as_slice).unwrap_or(&[]) {
                affected.push((user, format!("uses `{tname}`, which changed")));
            }
        }
        for (a, why) in affected {
            if let Some(st) = units.get_mut(a) {
                if st.status == Status::Same {
                    st.status = Status::Changed;
                    st.reasons.push(why);
                    queue.push_back(a);
                }
            }
        }
    }
    Comparison { units }
}
