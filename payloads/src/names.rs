//! Symbol and section name helpers: GCC's numbered static locals (`var.N`),
//! compiler clones (`.isra.N`, `.constprop.N`, `.part.N`, `.cold`) and the
//! `file#symbol` convention Xen uses for static symbols.

use std::borrow::Cow;

/// Drop every `.<digits>` component after the first one:
/// `cnt.3` → `cnt`, `f.constprop.0.isra.1` → `f.constprop.isra`,
/// `.rodata.f.part.2.str1.1` → `.rodata.f.part.str1`.
pub fn normalize(name: &str) -> Cow<'_, str> {
    let has_numeric = name
        .split('.')
        .skip(1)
        .any(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
    if !has_numeric {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for (i, comp) in name.split('.').enumerate() {
        if i > 0 && !comp.is_empty() && comp.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if i > 0 {
            out.push('.');
        }
        out.push_str(comp);
    }
    Cow::Owned(out)
}

/// True if the last `.`-component is a number (GCC's function-scope statics
/// `name.N`, also switch tables `CSWTCH.N`).
pub fn is_numbered(name: &str) -> bool {
    match name.rsplit_once('.') {
        Some((base, n)) => {
            !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Compiler clone markers.
const CLONE_MARKERS: [&str; 6] = [
    ".isra",
    ".constprop",
    ".part",
    ".cold",
    ".localalias",
    ".lto_priv",
];

/// True if the name carries a GCC clone suffix.
pub fn is_clone(name: &str) -> bool {
    CLONE_MARKERS.iter().any(|m| has_component(name, m))
}

fn has_component(name: &str, marker: &str) -> bool {
    let mut rest = name;
    while let Some(pos) = rest.find(marker) {
        let after = &rest[pos + marker.len()..];
        if pos > 0 && (after.is_empty() || after.starts_with('.')) {
            return true;
        }
        rest = after;
    }
    false
}

/// For `foo.cold` / `foo.cold.3` / `foo.part.0.cold` returns the parent
/// function name (`foo`, `foo.part.0`). Cold parts are entered by jumps from
/// their parent's body, so they belong to the parent.
pub fn cold_parent(name: &str) -> Option<&str> {
    let mut search = 0;
    while let Some(pos) = name.get(search..).and_then(|r| r.find(".cold")) {
        let abs = search + pos;
        let after = &name[abs + 5..];
        if abs > 0
            && (after.is_empty()
                || (after.starts_with('.') && after[1..].bytes().all(|b| b.is_ascii_digit())))
        {
            return Some(&name[..abs]);
        }
        search = abs + 5;
    }
    None
}

/// Xen's name for a static symbol: `<file>#<name>`.
pub fn mangle_local(file: Option<&str>, name: &str) -> String {
    match file {
        Some(f) if !f.is_empty() => {
            // Built by hand: `format!` costs more than the copy (one call
            // per static symbol of XEN-SYMS).
            let mut s = String::with_capacity(f.len() + 1 + name.len());
            s.push_str(f);
            s.push('#');
            s.push_str(name);
            s
        }
        _ => name.to_string(),
    }
}

/// The name a payload gives its copy of `base` when `base` is taken:
/// `base.new`, then `base.new2`, `base.new3`, ... (`k` counts from 1).
pub fn copy_name(base: &str, k: usize) -> String {
    if k <= 1 {
        format!("{base}.new")
    } else {
        format!("{base}.new{k}")
    }
}

/// The name `name` is a payload's copy of ([`copy_name`]), if it is one.
pub fn copy_base(name: &str) -> Option<&str> {
    let (base, suffix) = name.rsplit_once(".new")?;
    (!base.is_empty() && suffix.chars().all(|c| c.is_ascii_digit()) && suffix != "1")
        .then_some(base)
}

/// Common section-name prefixes under which `-ffunction-sections` /
/// `-fdata-sections` place a symbol.
pub const BUNDLE_PREFIXES: [&str; 9] = [
    ".text.unlikely.",
    ".text.hot.",
    ".text.",
    ".data.rel.ro.local.",
    ".data.rel.ro.",
    ".data.rel.local.",
    ".data.",
    ".rodata.",
    ".bss.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_names_round_trip() {
        for k in 1..4 {
            assert_eq!(copy_base(&copy_name("a.c#t", k)), Some("a.c#t"));
        }
        assert_eq!(copy_base("a.c#t.newer"), None);
        assert_eq!(copy_base("a.c#t"), None);
        assert_eq!(copy_base(".new"), None);
    }

    #[test]
    fn normalize_strips_numbers() {
        assert_eq!(normalize("cnt.3"), "cnt");
        assert_eq!(normalize("f.constprop.0.isra.1"), "f.constprop.isra");
        assert_eq!(normalize("plain"), "plain");
        assert_eq!(normalize(".rodata.f.str1.1"), ".rodata.f.str1");
        assert_eq!(normalize(".text.f"), ".text.f");
        assert_eq!(normalize("a..b"), "a..b");
    }

    #[test]
    fn numbered_and_clones() {
        assert!(is_numbered("cnt.0"));
        assert!(is_numbered("__func__.12"));
        assert!(!is_numbered("cnt"));
        assert!(!is_numbered(".5"));
        assert!(is_clone("f.isra.0"));
        assert!(is_clone("f.cold"));
        assert!(!is_clone("coldstart"));
        assert!(!is_clone(".cold"));
    }

    #[test]
    fn cold_parents() {
        assert_eq!(cold_parent("foo.cold"), Some("foo"));
        assert_eq!(cold_parent("foo.cold.7"), Some("foo"));
        assert_eq!(cold_parent("foo.part.0.cold"), Some("foo.part.0"));
        assert_eq!(cold_parent("foo.coldx"), None);
        assert_eq!(cold_parent("foo"), None);
        assert_eq!(cold_parent(".cold"), None);
    }

    #[test]
    fn mangling() {
        assert_eq!(mangle_local(Some("a.c"), "x"), "a.c#x");
        assert_eq!(mangle_local(None, "x"), "x");
    }
}
