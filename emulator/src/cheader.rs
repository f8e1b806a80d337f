//! Test support: reads the numeric `#define`s of a mini-xen public header,
//! so each Rust mirror can be checked against the C it mirrors.

use std::collections::HashMap;

/// `#define NAME VALUE` pairs of `mini-xen/include/public/FILE` whose value
/// is a number (`0x10`, `27`, `2u`, `(1u << 16)`).
pub fn defines(file: &str) -> HashMap<String, u64> {
    let path = format!(
        "{}/../mini-xen/include/public/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(char::is_whitespace)?;
            let value = rest.split("/*").next()?.trim();
            Some((name.to_string(), parse(value)?))
        })
        .collect()
}

fn parse(v: &str) -> Option<u64> {
    let v = v.trim().trim_start_matches('(').trim_end_matches(')');
    if let Some((a, b)) = v.split_once("<<") {
        return Some(parse(a)? << parse(b)?);
    }
    let v = v.trim().trim_end_matches(['u', 'U', 'l', 'L']);
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}
