//! Correlation ("twins") of symbols, sections and units between the original
//! and the patched object.
//!
//! * Globals correlate by exact name.
//! * Locals correlate by `(file, name with every `.N` component removed,
//!   kind)`. GCC's numbering of function-scope statics (`cnt.3`) and of
//!   clones (`f.constprop.1`) is arbitrary, so numbers are never evidence.
//!   When a name group is not one-to-one, candidates are paired by the set
//!   of functions referencing them (their *context*) and then by content;
//!   a tie that cannot be broken is an error for referenced data and leaves
//!   clones uncorrelated (they are then treated as new, which is safe).
//! * Sections correlate through their owning symbols, else by name (with
//!   embedded symbol names translated through the symbol twins), else by
//!   normalised name, and mergeable sections by identical content.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::analysis::{Analysis, SecKind, Target, UnitIdx};
use crate::elf::{SecIdx, SymIdx};
use crate::names;
use crate::parallel;

/// Errors raised by correlation.
#[derive(Debug, thiserror::Error)]
pub enum CorrelateError {
    /// Two or more local symbols share a name and cannot be told apart.
    #[error(
        "{file}: ambiguous local symbol `{name}`: {detail}; rename one of them (or make the references distinguishable)"
    )]
    Ambiguous {
        /// Object file (patched).
        file: String,
        /// The shared (normalised) name.
        name: String,
        /// Candidates and why they cannot be paired.
        detail: String,
    },
}

/// Result of correlation.
#[derive(Debug, Clone, Default)]
pub struct Correlation {
    /// Patched symbol → original symbol.
    pub sym_p2o: Vec<Option<SymIdx>>,
    /// Original symbol → patched symbol.
    pub sym_o2p: Vec<Option<SymIdx>>,
    /// Patched section → original section.
    pub sec_p2o: Vec<Option<SecIdx>>,
    /// Patched unit → original unit.
    pub unit_p2o: Vec<Option<UnitIdx>>,
    /// Decisions worth showing in the report (renumbered statics, ...).
    pub notes: Vec<String>,
    /// Warnings (uncorrelated statics ...).
    pub warnings: Vec<String>,
    /// Number of notes produced (only the first few are kept).
    pub note_count: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KindClass {
    Func,
    Object,
    Other,
}

fn kind_class(an: &Analysis<'_>, s: SymIdx) -> KindClass {
    match an.obj.symbols.get(s) {
        Some(sym) if sym.is_func() => KindClass::Func,
        Some(sym) if sym.is_object() => KindClass::Object,
        _ => KindClass::Other,
    }
}

/// Name of the function (or section) a reference comes from, normalised.
fn referrer_name<'a>(an: &Analysis<'a>, u: UnitIdx) -> Cow<'a, str> {
    let owner = an.units.get(u).and_then(|x| x.owner);
    match owner {
        Some(o) => {
            let o = an.cold_parent.get(o).copied().flatten().unwrap_or(o);
            names::normalize(an.sym_name(o))
        }
        None => {
            let sec = an.units.get(u).map(|x| x.sec).unwrap_or(0);
            names::normalize(an.sec_name(sec))
        }
    }
}

/// For the symbols flagged in `need`, the sorted set of referring functions.
fn contexts<'a>(an: &Analysis<'a>, need: &[bool]) -> HashMap<SymIdx, Vec<Cow<'a, str>>> {
    let mut map: HashMap<SymIdx, Vec<Cow<'a, str>>> = HashMap::default();
    for u in 0..an.units.len() {
        let mut name: Option<Cow<'a, str>> = None;
        for (_, t) in an.unit_relocs(u) {
            if let Target::Sym { sym, .. } = t {
                if need.get(sym).copied().unwrap_or(false) && an.unit_of_sym(sym) != Some(u) {
                    let n = name.get_or_insert_with(|| referrer_name(an, u)).clone();
                    map.entry(sym).or_default().push(n);
                }
            }
        }
    }
    for v in map.values_mut() {
        v.sort();
        v.dedup();
    }
    map
}

fn overlap(a: &[Cow<'_, str>], b: &[Cow<'_, str>]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

fn same_content(p: &Analysis<'_>, ps: SymIdx, o: &Analysis<'_>, os: SymIdx) -> bool {
    match (p.unit_of_sym(ps), o.unit_of_sym(os)) {
        (Some(pu), Some(ou)) => {
            let (Some(a), Some(b)) = (p.units.get(pu), o.units.get(ou)) else {
                return false;
            };
            a.end - a.start == b.end - b.start && p.unit_bytes(pu) == o.unit_bytes(ou)
        }
        _ => {
            let (Some(a), Some(b)) = (p.obj.symbols.get(ps), o.obj.symbols.get(os)) else {
                return false;
            };
            a.size == b.size
        }
    }
}

/// Correlate the two objects.
pub fn correlate(p: &Analysis<'_>, o: &Analysis<'_>) -> Result<Correlation, CorrelateError> {
    let mut c = Correlation {
        sym_p2o: vec![None; p.obj.symbols.len()],
        sym_o2p: vec![None; o.obj.symbols.len()],
        sec_p2o: vec![None; p.obj.sections.len()],
        unit_p2o: vec![None; p.units.len()],
        ..Correlation::default()
    };
    // 1. Globals (and undefined symbols) by exact name.
    let o_globals = correlate_globals(&mut c, p, o);
    // 2. Locals, by name group; ambiguous groups by users and content.
    let groups = local_groups(p, o);
    let (p_ctx, o_ctx) = group_contexts(p, o, &groups);
    let empty: Vec<Cow<'_, str>> = Vec::new();
    let pctx = |s: SymIdx| p_ctx.get(&s).unwrap_or(&empty);
    let octx = |s: SymIdx| o_ctx.get(&s).unwrap_or(&empty);
    for (key, (ps, os)) in &groups {
        pair_group(&mut c, p, o, key, ps, os, &pctx, &octx)?;
    }
    if c.note_count > c.notes.len() {
        let more = c.note_count - c.notes.len();
        c.notes
            .push(format!("... and {more} more correlation notes"));
    }
    warn_binding_changes(&mut c, p, o, &o_globals);
    // 3. Sections.
    correlate_sections(&mut c, p, o);
    // 4. Units.
    correlate_units(&mut c, p, o);
    Ok(c)
}

/// Globals and undefined symbols, by exact name. Returns the original's
/// globals by name.
fn correlate_globals<'o>(
    c: &mut Correlation,
    p: &Analysis<'_>,
    o: &Analysis<'o>,
) -> HashMap<&'o str, SymIdx> {
    let mut o_globals: HashMap<&str, SymIdx> = HashMap::default();
    for s in &o.obj.symbols {
        if !s.is_local() && !s.name.is_empty() {
            o_globals.entry(s.name).or_insert(s.index);
        }
    }
    for s in &p.obj.symbols {
        if !s.is_local() && !s.name.is_empty() {
            if let Some(&os) = o_globals.get(s.name) {
                if c.sym_o2p.get(os).copied().flatten().is_none() {
                    c.sym_p2o[s.index] = Some(os);
                    c.sym_o2p[os] = Some(s.index);
                }
            }
        }
    }
    o_globals
}

/// Key of a name group of locals: (file, normalised name, kind).
type GroupKey<'k> = (Option<&'k str>, Cow<'k, str>, KindClass);
/// The users of each symbol that needs them, by symbol.
type Users<'a> = HashMap<SymIdx, Vec<Cow<'a, str>>>;
/// Patched and original members of each name group.
type Groups<'k> = BTreeMap<GroupKey<'k>, (Vec<SymIdx>, Vec<SymIdx>)>;

/// The locals of both objects, grouped by source file (ignored when each
/// object has a single source file: objects built from different
/// directories) and name with the numbers removed.
fn local_groups<'k>(p: &Analysis<'k>, o: &Analysis<'k>) -> Groups<'k> {
    let single_file = |an: &Analysis<'_>| {
        let mut files = an
            .obj
            .symbols
            .iter()
            .filter(|s| s.is_file())
            .map(|s| s.name);
        match files.next() {
            Some(first) => files.all(|f| f == first),
            None => true,
        }
    };
    let ignore_file = single_file(p) && single_file(o);
    let mut groups: Groups<'k> = BTreeMap::new();
    for s in &p.obj.symbols {
        if s.is_local() && s.is_named_entity() {
            let key = (
                if ignore_file { None } else { s.file },
                names::normalize(s.name),
                kind_class(p, s.index),
            );
            groups.entry(key).or_default().0.push(s.index);
        }
    }
    for s in &o.obj.symbols {
        if s.is_local() && s.is_named_entity() {
            let key = (
                if ignore_file { None } else { s.file },
                names::normalize(s.name),
                kind_class(o, s.index),
            );
            groups.entry(key).or_default().1.push(s.index);
        }
    }
    groups
}

/// Contexts (users) of the symbols that need one: numbered statics,
/// clones, members of ambiguous groups.
fn group_contexts<'k>(
    p: &Analysis<'k>,
    o: &Analysis<'k>,
    groups: &Groups<'_>,
) -> (Users<'k>, Users<'k>) {
    let mut p_need = vec![false; p.obj.symbols.len()];
    let mut o_need = vec![false; o.obj.symbols.len()];
    for (ps, os) in groups.values() {
        let ambiguous = ps.len() > 1 || os.len() > 1;
        for &s in ps {
            let n = p.sym_name(s);
            if ambiguous || names::is_numbered(n) || names::is_clone(n) {
                if let Some(f) = p_need.get_mut(s) {
                    *f = true;
                }
            }
        }
        for &s in os {
            let n = o.sym_name(s);
            if ambiguous || names::is_numbered(n) || names::is_clone(n) {
                if let Some(f) = o_need.get_mut(s) {
                    *f = true;
                }
            }
        }
    }
    parallel::join(
        p.obj.symbols.len() + o.obj.symbols.len() >= parallel::MIN_ITEMS,
        || contexts(p, &p_need),
        || contexts(o, &o_need),
    )
}

/// Pair the members of one name group.
#[allow(clippy::too_many_arguments)]
fn pair_group<'x>(
    c: &mut Correlation,
    p: &Analysis<'_>,
    o: &Analysis<'_>,
    (file, base, class): &GroupKey<'_>,
    ps: &[SymIdx],
    os: &[SymIdx],
    pctx: &dyn Fn(SymIdx) -> &'x Vec<Cow<'x, str>>,
    octx: &dyn Fn(SymIdx) -> &'x Vec<Cow<'x, str>>,
) -> Result<(), CorrelateError> {
    if ps.is_empty() || os.is_empty() {
        return Ok(());
    }
    let numbered_data = *class != KindClass::Func;
    if let ([pv], [ov]) = (ps, os) {
        let (pv, ov) = (*pv, *ov);
        let (pc, oc) = (pctx(pv), octx(ov));
        let numbered = names::is_numbered(p.sym_name(pv)) && numbered_data;
        if numbered && !pc.is_empty() && !oc.is_empty() && overlap(pc, oc) == 0 {
            c.warnings.push(format!(
                "static local `{}` (used by {}) is not correlated with `{}` (used by {}): no common user; treating it as new",
                p.sym_name(pv),
                pc.join(", "),
                o.sym_name(ov),
                oc.join(", ")
            ));
            return Ok(());
        }
        link(c, pv, ov);
        return Ok(());
    }
    // Ambiguous group. Pair in phases, each in linear time: same users,
    // same users and content, same content; what is left (rare, small)
    // is paired by best user overlap, refusing ties.
    let mut p_left: Vec<SymIdx> = ps.to_vec();
    let mut o_left: Vec<SymIdx> = os.to_vec();
    let ctx_key = |ctx: &[Cow<'_, str>]| (!ctx.is_empty()).then(|| ctx.join("\u{0}"));
    let content_p = |s: SymIdx| content_key(p, s);
    let content_o = |s: SymIdx| content_key(o, s);
    let mut paired: Vec<(SymIdx, SymIdx, &'static str)> = Vec::new();
    paired.extend(
        pair_unique(
            &mut p_left,
            &mut o_left,
            |s| ctx_key(pctx(s)),
            |s| ctx_key(octx(s)),
        )
        .into_iter()
        .map(|(a, b)| (a, b, "same users")),
    );
    paired.extend(
        pair_unique(
            &mut p_left,
            &mut o_left,
            |s| ctx_key(pctx(s)).map(|k| (k, content_p(s))),
            |s| ctx_key(octx(s)).map(|k| (k, content_o(s))),
        )
        .into_iter()
        .map(|(a, b)| (a, b, "same users and content")),
    );
    paired.extend(
        pair_unique(
            &mut p_left,
            &mut o_left,
            |s| Some(content_p(s)),
            |s| Some(content_o(s)),
        )
        .into_iter()
        .map(|(a, b)| (a, b, "same content")),
    );
    let mut ambiguous: Vec<SymIdx> = Vec::new();
    if !p_left.is_empty() && !o_left.is_empty() {
        if p_left.len() <= SMALL_GROUP && o_left.len() <= SMALL_GROUP {
            let mut cands: Vec<(usize, bool, SymIdx, SymIdx)> = Vec::new();
            for &pv in &p_left {
                for &ov in &o_left {
                    let score = overlap(pctx(pv), octx(ov));
                    let same = same_content(p, pv, o, ov);
                    if score > 0 || same {
                        cands.push((score, same, pv, ov));
                    }
                }
            }
            cands.sort_by(|a, b| {
                b.0.cmp(&a.0)
                    .then(b.1.cmp(&a.1))
                    .then(a.2.cmp(&b.2))
                    .then(a.3.cmp(&b.3))
            });
            let mut p_done: HashSet<SymIdx> = HashSet::default();
            let mut o_done: HashSet<SymIdx> = HashSet::default();
            for &(score, same, pv, ov) in &cands {
                if p_done.contains(&pv) || o_done.contains(&ov) {
                    continue;
                }
                // A tie with another free candidate makes the choice arbitrary.
                let tie = cands.iter().any(|&(s2, same2, p2, o2)| {
                    s2 == score
                        && same2 == same
                        && ((p2 == pv && o2 != ov && !o_done.contains(&o2))
                            || (o2 == ov && p2 != pv && !p_done.contains(&p2)))
                });
                p_done.insert(pv);
                if tie {
                    ambiguous.push(pv);
                    continue;
                }
                o_done.insert(ov);
                paired.push((pv, ov, "most users in common"));
            }
        } else {
            ambiguous.extend(p_left.iter().copied().filter(|&s| !pctx(s).is_empty()));
        }
    }
    paired.sort_unstable();
    for (pv, ov, why) in paired {
        link(c, pv, ov);
        if p.sym_name(pv) != o.sym_name(ov) {
            note(
                c,
                format!(
                    "`{}` correlated with original `{}` ({why})",
                    p.sym_name(pv),
                    o.sym_name(ov)
                ),
            );
        }
    }
    if !ambiguous.is_empty() {
        ambiguous.sort_unstable();
        ambiguous.dedup();
        let referenced = ambiguous.iter().any(|&s| !pctx(s).is_empty());
        let names_of = |list: &[SymIdx]| {
            let mut v: Vec<&str> = list.iter().take(10).map(|&s| p.sym_name(s)).collect();
            if list.len() > 10 {
                v.push("...");
            }
            v.join(", ")
        };
        // Compiler clones may safely be treated as new (their callers
        // then differ and are patched); anything else is refused.
        let func_clone =
            *class == KindClass::Func && ambiguous.iter().all(|&s| names::is_clone(p.sym_name(s)));
        if func_clone || !referenced {
            note(
                c,
                format!(
                    "could not pair {} with an original symbol unambiguously; treating as new",
                    names_of(&ambiguous)
                ),
            );
        } else {
            let describe =
                |an: &Analysis<'_>,
                 list: &[SymIdx],
                 ctx: &dyn Fn(SymIdx) -> &'x Vec<Cow<'x, str>>| {
                    let mut v: Vec<String> = list
                        .iter()
                        .take(10)
                        .map(|&s| {
                            let users = ctx(s);
                            format!(
                                "{} (used by {})",
                                an.sym_name(s),
                                if users.is_empty() {
                                    "nothing".to_string()
                                } else {
                                    users.join(", ")
                                }
                            )
                        })
                        .collect();
                    if list.len() > 10 {
                        v.push(format!("and {} more", list.len() - 10));
                    }
                    v.join(", ")
                };
            return Err(CorrelateError::Ambiguous {
                file: format!(
                    "{}{}",
                    p.obj.file,
                    file.map(|f| format!(" ({f})")).unwrap_or_default()
                ),
                name: base.to_string(),
                detail: format!(
                    "patched candidates: {}; original candidates: {}",
                    describe(p, &ambiguous, pctx),
                    describe(o, &o_left, octx)
                ),
            });
        }
    }
    Ok(())
}

/// A static function or variable that used to be global (or the reverse)
/// is a different symbol to the linker: other objects keep using the
/// hypervisor's old one.
fn warn_binding_changes(
    c: &mut Correlation,
    p: &Analysis<'_>,
    o: &Analysis<'_>,
    o_globals: &HashMap<&str, SymIdx>,
) {
    let o_local_names: HashSet<&str> = o
        .obj
        .symbols
        .iter()
        .filter(|x| x.is_local() && x.is_named_entity())
        .map(|x| x.name)
        .collect();
    for sym in &p.obj.symbols {
        if !sym.is_named_entity()
            || sym.defined_in().is_none()
            || c.sym_p2o.get(sym.index).copied().flatten().is_some()
        {
            continue;
        }
        let other_binding = if sym.is_local() {
            o_globals.get(sym.name).is_some_and(|&os| {
                o.obj
                    .symbols
                    .get(os)
                    .is_some_and(|x| x.defined_in().is_some())
            })
        } else {
            o_local_names.contains(sym.name)
        };
        if other_binding {
            c.warnings.push(format!(
                "`{}` changed binding ({}); users in other objects keep the hypervisor's old symbol",
                sym.name,
                if sym.is_local() { "global -> static" } else { "static -> global" }
            ));
        }
    }
}

/// Units: through their owning symbol, else (anonymous) through their
/// section.
fn correlate_units(c: &mut Correlation, p: &Analysis<'_>, o: &Analysis<'_>) {
    for (u, unit) in p.units.iter().enumerate() {
        let twin = match unit.owner {
            Some(owner) => c
                .sym_p2o
                .get(owner)
                .copied()
                .flatten()
                .and_then(|os| o.unit_of_sym(os)),
            None => c.sec_p2o.get(unit.sec).copied().flatten().and_then(|os| {
                let r = o.units_of(os);
                match o.units.get(r.clone()) {
                    Some([ou]) if ou.owner.is_none() => Some(r.start),
                    _ => None,
                }
            }),
        };
        if let Some(slot) = c.unit_p2o.get_mut(u) {
            *slot = twin;
        }
    }
}

/// Largest leftover group paired by scoring (quadratic).
const SMALL_GROUP: usize = 64;
/// Correlation notes kept in the report.
const MAX_NOTES: usize = 20;

fn note(c: &mut Correlation, text: String) {
    c.note_count += 1;
    if c.notes.len() < MAX_NOTES {
        c.notes.push(text);
    }
}

fn content_key<'a>(an: &Analysis<'a>, s: SymIdx) -> (u64, &'a [u8]) {
    match an.unit_of_sym(s) {
        Some(u) => {
            let len = an.units.get(u).map(|x| x.end - x.start).unwrap_or(0);
            (len, an.unit_bytes(u))
        }
        None => (an.obj.symbols.get(s).map(|x| x.size).unwrap_or(0), &[]),
    }
}

/// Pair the elements whose key is unique on both sides; remove them from
/// the lists. Elements without a key are left alone.
fn pair_unique<K: std::hash::Hash + Eq>(
    p_left: &mut Vec<SymIdx>,
    o_left: &mut Vec<SymIdx>,
    kp: impl Fn(SymIdx) -> Option<K>,
    ko: impl Fn(SymIdx) -> Option<K>,
) -> Vec<(SymIdx, SymIdx)> {
    let mut table: HashMap<K, (Vec<SymIdx>, Vec<SymIdx>)> = HashMap::default();
    for &s in p_left.iter() {
        if let Some(k) = kp(s) {
            table.entry(k).or_default().0.push(s);
        }
    }
    for &s in o_left.iter() {
        if let Some(k) = ko(s) {
            table.entry(k).or_default().1.push(s);
        }
    }
    let mut pairs: Vec<(SymIdx, SymIdx)> = table
        .into_values()
        .filter_map(|(a, b)| match (a.as_slice(), b.as_slice()) {
            ([x], [y]) => Some((*x, *y)),
            _ => None,
        })
        .collect();
    pairs.sort_unstable();
    let pset: HashSet<SymIdx> = pairs.iter().map(|x| x.0).collect();
    let oset: HashSet<SymIdx> = pairs.iter().map(|x| x.1).collect();
    p_left.retain(|s| !pset.contains(s));
    o_left.retain(|s| !oset.contains(s));
    pairs
}

fn link(c: &mut Correlation, ps: SymIdx, os: SymIdx) {
    if let Some(slot) = c.sym_p2o.get_mut(ps) {
        *slot = Some(os);
    }
    if let Some(slot) = c.sym_o2p.get_mut(os) {
        *slot = Some(ps);
    }
}

fn correlatable(kind: SecKind) -> bool {
    !matches!(kind, SecKind::Meta | SecKind::Ignored)
}

fn correlate_sections(c: &mut Correlation, p: &Analysis<'_>, o: &Analysis<'_>) {
    let mut o_taken = vec![false; o.obj.sections.len()];
    let mut o_by_name: HashMap<&str, Option<SecIdx>> = HashMap::default();
    for s in &o.obj.sections {
        if correlatable(o.kinds.get(s.index).copied().unwrap_or(SecKind::Meta)) {
            o_by_name
                .entry(s.name)
                .and_modify(|v| *v = None)
                .or_insert(Some(s.index));
        }
    }
    let mut p_name_count: HashMap<&str, usize> = HashMap::default();
    for s in &p.obj.sections {
        *p_name_count.entry(s.name).or_default() += 1;
    }
    let assign = |c: &mut Correlation, taken: &mut Vec<bool>, ps: SecIdx, os: SecIdx| -> bool {
        if taken.get(os).copied().unwrap_or(true) {
            return false;
        }
        if let Some(t) = taken.get_mut(os) {
            *t = true;
        }
        if let Some(slot) = c.sec_p2o.get_mut(ps) {
            *slot = Some(os);
        }
        true
    };

    // a. Through the owner of a whole-section unit.
    for ps in 0..p.obj.sections.len() {
        let r = p.units_of(ps);
        let Some([unit]) = p.units.get(r) else {
            continue;
        };
        let Some(owner) = unit.owner else { continue };
        let Some(os) = c.sym_p2o.get(owner).copied().flatten() else {
            continue;
        };
        let Some(osec) = o.obj.symbols.get(os).and_then(|s| s.defined_in()) else {
            continue;
        };
        let r2 = o.units_of(osec);
        if matches!(o.units.get(r2), Some([ou]) if ou.owner.is_some()) {
            assign(c, &mut o_taken, ps, osec);
        }
    }
    // Patched symbol names → twin names, for sections named after a symbol.
    let mut p_sym_by_name: HashMap<&str, SymIdx> = HashMap::default();
    for s in &p.obj.symbols {
        if s.is_named_entity() {
            p_sym_by_name.entry(s.name).or_insert(s.index);
        }
    }
    // b. Exact name, c. translated name, d. normalised name.
    let mut o_by_norm: HashMap<Cow<'_, str>, Option<SecIdx>> = HashMap::default();
    for s in &o.obj.sections {
        if correlatable(o.kinds.get(s.index).copied().unwrap_or(SecKind::Meta)) {
            o_by_norm
                .entry(names::normalize(s.name))
                .and_modify(|v| *v = None)
                .or_insert(Some(s.index));
        }
    }
    let mut p_norm_count: HashMap<Cow<'_, str>, usize> = HashMap::default();
    for s in &p.obj.sections {
        *p_norm_count.entry(names::normalize(s.name)).or_default() += 1;
    }
    for (ps, sec) in p.obj.sections.iter().enumerate() {
        let kind = p.kinds.get(ps).copied().unwrap_or(SecKind::Meta);
        if !correlatable(kind) || c.sec_p2o.get(ps).copied().flatten().is_some() {
            continue;
        }
        // b.
        if p_name_count.get(sec.name).copied() == Some(1) {
            if let Some(Some(os)) = o_by_name.get(sec.name) {
                if assign(c, &mut o_taken, ps, *os) {
                    continue;
                }
            }
        }
        // c.
        if let Some(translated) = translate_section_name(sec.name, &p_sym_by_name, c, o) {
            if let Some(Some(os)) = o_by_name.get(translated.as_str()) {
                if assign(c, &mut o_taken, ps, *os) {
                    continue;
                }
            }
        }
        // d.
        let norm = names::normalize(sec.name);
        if p_norm_count.get(norm.as_ref()).copied() == Some(1) {
            if let Some(Some(os)) = o_by_norm.get(norm.as_ref()) {
                if assign(c, &mut o_taken, ps, *os) {
                    continue;
                }
            }
        }
    }
    // e. Mergeable sections by identical content.
    let mut o_merge_by_content: HashMap<(&[u8], u64, u64), Option<SecIdx>> = HashMap::default();
    for s in &o.obj.sections {
        if matches!(o.kinds.get(s.index), Some(SecKind::Mergeable { .. }))
            && !o_taken.get(s.index).copied().unwrap_or(true)
        {
            o_merge_by_content
                .entry((s.data, s.flags, s.entsize))
                .and_modify(|v| *v = None)
                .or_insert(Some(s.index));
        }
    }
    for (ps, sec) in p.obj.sections.iter().enumerate() {
        if matches!(p.kinds.get(ps), Some(SecKind::Mergeable { .. }))
            && c.sec_p2o.get(ps).copied().flatten().is_none()
        {
            if let Some(Some(os)) = o_merge_by_content.get(&(sec.data, sec.flags, sec.entsize)) {
                assign(c, &mut o_taken, ps, *os);
            }
        }
    }
}

/// `.rodata.foo.constprop.1.str1.1` → `.rodata.foo.constprop.0.str1.1` when
/// `foo.constprop.1` correlates with `foo.constprop.0`.
fn translate_section_name(
    name: &str,
    p_syms: &HashMap<&str, SymIdx>,
    c: &Correlation,
    o: &Analysis<'_>,
) -> Option<String> {
    let prefix = names::BUNDLE_PREFIXES
        .iter()
        .find(|pre| name.starts_with(**pre))?;
    let rest = name.get(prefix.len()..)?;
    // Try the longest symbol name that is a prefix of `rest` at a component boundary.
    let mut cut = rest.len();
    loop {
        let cand = rest.get(..cut)?;
        if let Some(&ps) = p_syms.get(cand) {
            if let Some(os) = c.sym_p2o.get(ps).copied().flatten() {
                let oname = o.sym_name(os);
                return Some(format!("{prefix}{oname}{}", rest.get(cut..)?));
            }
        }
        cut = cand.rfind('.')?;
        if cut == 0 {
            return None;
        }
    }
}
