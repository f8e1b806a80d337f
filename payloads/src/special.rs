//! Special sections regenerated entry by entry: `.bug_frames.N`, `.ex_table`
//! and `.altinstructions` keep only the entries that point into code shipped
//! in the payload; their companion code sections (`.fixup`,
//! `.altinstr_replacement`) keep only the groups those entries reference.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::{Analysis, SecKind, SpecialKind, Target, UnitIdx};
use crate::elf::SecIdx;

/// Entry sizes of the special tables (they depend on the hypervisor build:
/// livepatch-build reads them from DWARF and passes them as
/// `BUG_STRUCT_SIZE`, `EX_STRUCT_SIZE`, `ALT_STRUCT_SIZE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialSizes {
    /// Granularity of `.bug_frames.N` (8). A frame starts where the first
    /// word is relocated against code (the `ud2` location); following chunks
    /// belong to it. This covers Xen's 8-byte frames with a second 8-byte
    /// message frame for assertions, and mini-xen's 16-byte frames
    /// (location, pointer, message, line) without configuration.
    pub bug_frame: u64,
    /// `struct exception_table_entry` (8: two relative `int32`).
    pub ex_table: u64,
    /// `struct alt_instr` (14 in current Xen: packed, two relative `int32`,
    /// `u16` cpuid, four `u8`; 12 before the `pad_len`/`priv` fields).
    pub alt_instr: u64,
}

impl Default for SpecialSizes {
    fn default() -> Self {
        SpecialSizes {
            bug_frame: 8,
            ex_table: 8,
            alt_instr: 14,
        }
    }
}

/// Errors in special sections.
#[derive(Debug, thiserror::Error)]
pub enum SpecialError {
    /// The section size is not a multiple of the entry size.
    #[error(
        "{file}: special section {section} has size {size:#x}, not a multiple of its entry size {entsize}; check the {var} entry size for this hypervisor build"
    )]
    BadEntrySize {
        /// Object file.
        file: String,
        /// Section name.
        section: String,
        /// Section size.
        size: u64,
        /// Configured entry size.
        entsize: u64,
        /// Name of the environment variable setting the size.
        var: &'static str,
    },
}

/// What happened to one special section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialSummary {
    /// Section name.
    pub section: String,
    /// Number of entries (or groups, for companion sections) in the input.
    pub entries: usize,
    /// Number kept.
    pub kept: usize,
    /// Functions the kept entries belong to (sorted, unique).
    pub functions: Vec<String>,
}

/// The special-section part of the inclusion decision.
#[derive(Debug, Clone, Default)]
pub struct SpecialPlan {
    /// Kept byte ranges per section (sorted, merged).
    pub ranges: BTreeMap<SecIdx, Vec<(u64, u64)>>,
    /// Who each kept range is kept for (by section and range start).
    pub kept_for: BTreeMap<(SecIdx, u64), String>,
    /// Per-section summary.
    pub summaries: Vec<SpecialSummary>,
}

fn entry_size(k: SpecialKind, sizes: &SpecialSizes) -> (u64, &'static str) {
    match k {
        SpecialKind::BugFrames => (sizes.bug_frame, "BUG_STRUCT_SIZE"),
        SpecialKind::ExTable => (sizes.ex_table, "EX_STRUCT_SIZE"),
        SpecialKind::AltInstructions => (sizes.alt_instr, "ALT_STRUCT_SIZE"),
    }
}

/// Does a relocation target point into code?
fn targets_code(p: &Analysis<'_>, t: Target) -> bool {
    let sec = match t {
        Target::Sym { sym, .. } => p.obj.symbols.get(sym).and_then(|s| s.defined_in()),
        Target::Sec { sec, .. } => Some(sec),
        Target::None => None,
    };
    sec.is_some_and(|s| p.is_exec(s))
}

/// The included code unit a target points into, if any.
fn included_code(p: &Analysis<'_>, unit_in: &[bool], t: Target) -> Option<UnitIdx> {
    let u = match t {
        Target::Sym { sym, .. } => p.unit_of_sym(sym)?,
        Target::Sec { sec, off, .. } => {
            if !matches!(p.kinds.get(sec), Some(SecKind::Plain)) {
                return None;
            }
            p.unit_at(sec, off)?
        }
        Target::None => return None,
    };
    let unit = p.units.get(u)?;
    (unit_in.get(u).copied().unwrap_or(false) && p.is_exec(unit.sec)).then_some(u)
}

/// Merge sorted-or-not ranges into sorted, non-overlapping ranges (adjacent
/// ranges are merged too).
pub fn merge_ranges(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 && !(s == last.1 && e == s && last.0 != last.1) => {
                last.1 = last.1.max(e)
            }
            _ => out.push((s, e)),
        }
    }
    out
}

/// Decide which entries of the special tables (and which companion groups)
/// belong in the payload, given the currently included units.
pub fn plan(
    p: &Analysis<'_>,
    unit_in: &[bool],
    sizes: &SpecialSizes,
) -> Result<SpecialPlan, SpecialError> {
    let mut plan = SpecialPlan::default();
    // Companion section -> all referenced offsets, and the needed ones.
    let mut boundaries: BTreeMap<SecIdx, BTreeSet<i64>> = BTreeMap::new();
    let mut needed: BTreeMap<SecIdx, BTreeMap<i64, String>> = BTreeMap::new();

    for (si, kind) in p.kinds.iter().enumerate() {
        let SecKind::Special(k) = *kind else { continue };
        let Some(sec) = p.obj.sections.get(si) else {
            continue;
        };
        if sec.size == 0 {
            continue;
        }
        let (es, var) = entry_size(k, sizes);
        if es == 0 || sec.size % es != 0 {
            return Err(SpecialError::BadEntrySize {
                file: p.obj.file.clone(),
                section: sec.name.to_string(),
                size: sec.size,
                entsize: es,
                var,
            });
        }
        // Entries; a bug frame whose first word carries no relocation is the
        // message half of the preceding assertion frame.
        let mut entries: Vec<(u64, u64)> = Vec::new();
        let mut off = 0;
        while off < sec.size {
            let end = off + es;
            let continuation = k == SpecialKind::BugFrames
                && !entries.is_empty()
                && !p
                    .range_relocs(si, off, off + 4)
                    .any(|(_, t)| targets_code(p, t));
            match entries.last_mut() {
                Some(last) if continuation => last.1 = end,
                _ => entries.push((off, end)),
            }
            off = end;
        }
        let mut kept: Vec<(u64, u64)> = Vec::new();
        let mut functions: BTreeSet<String> = BTreeSet::new();
        for &(s, e) in &entries {
            let mut owner: Option<UnitIdx> = None;
            let mut companions: Vec<(SecIdx, i64)> = Vec::new();
            for (_, t) in p.range_relocs(si, s, e) {
                if owner.is_none() {
                    owner = included_code(p, unit_in, t);
                }
                if let Target::Sec { sec: csec, off, .. } = t {
                    if matches!(p.kinds.get(csec), Some(SecKind::Companion(_))) {
                        boundaries.entry(csec).or_default().insert(off);
                        companions.push((csec, off));
                    }
                }
            }
            if let Some(u) = owner {
                let name = p.unit_name(u);
                kept.push((s, e));
                plan.kept_for.insert((si, s), name.clone());
                for (csec, off) in companions {
                    needed
                        .entry(csec)
                        .or_default()
                        .entry(off)
                        .or_insert_with(|| name.clone());
                }
                functions.insert(name);
            }
        }
        plan.summaries.push(SpecialSummary {
            section: sec.name.to_string(),
            entries: entries.len(),
            kept: kept.len(),
            functions: functions.into_iter().collect(),
        });
        if !kept.is_empty() {
            plan.ranges.insert(si, merge_ranges(kept));
        }
    }

    for (csec, offs) in &boundaries {
        let Some(sec) = p.obj.sections.get(*csec) else {
            continue;
        };
        let size = i64::try_from(sec.size).unwrap_or(i64::MAX);
        let list: Vec<i64> = offs
            .iter()
            .copied()
            .filter(|&o| (0..=size).contains(&o))
            .collect();
        let want = needed.get(csec);
        let mut kept: Vec<(u64, u64)> = Vec::new();
        let mut functions: BTreeSet<String> = BTreeSet::new();
        for (i, &start) in list.iter().enumerate() {
            let end = list.get(i + 1).copied().unwrap_or(size);
            if let Some(name) = want.and_then(|w| w.get(&start)) {
                let (Ok(s), Ok(e)) = (u64::try_from(start), u64::try_from(end)) else {
                    continue;
                };
                kept.push((s, e));
                plan.kept_for.insert((*csec, s), name.clone());
                functions.insert(name.clone());
            }
        }
        plan.summaries.push(SpecialSummary {
            section: sec.name.to_string(),
            entries: list.len(),
            kept: kept.len(),
            functions: functions.into_iter().collect(),
        });
        if !kept.is_empty() {
            plan.ranges.insert(*csec, merge_ranges(kept));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::merge_ranges;

    #[test]
    fn merging() {
        assert_eq!(
            merge_ranges(vec![(8, 16), (0, 8), (24, 32)]),
            vec![(0, 16), (24, 32)]
        );
        assert_eq!(merge_ranges(vec![(0, 8), (4, 12)]), vec![(0, 12)]);
        assert_eq!(merge_ranges(vec![]), vec![]);
    }
}
