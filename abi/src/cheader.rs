//! Test support: reads the numeric `#define`s of a mini-xen public header,
//! so each Rust mirror can be checked against the C it mirrors.

use std::collections::HashMap;

/// The text of `mini-xen/include/public/FILE`.
pub fn header_text(file: &str) -> String {
    let path = format!(
        "{}/../mini-xen/include/public/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `#define NAME VALUE` pairs of `mini-xen/include/public/FILE` whose value
/// is a number (`0x10`, `27`, `2u`, `(1u << 16)`).
pub fn defines(file: &str) -> HashMap<String, u64> {
    let text = header_text(file);
    text.lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(char::is_whitespace)?;
            let value = rest.split("/*").next()?.trim();
            Some((name.to_string(), parse(value)?))
        })
        .collect()
}

/// `#define NAME "string"` pairs of `mini-xen/include/public/FILE`.
pub fn string_defines(file: &str) -> HashMap<String, String> {
    let path = format!(
        "{}/../mini-xen/include/public/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(char::is_whitespace)?;
            let value = rest.trim().strip_prefix('"')?.split('"').next()?;
            Some((name.to_string(), value.to_string()))
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

/// Sizes and field offsets of C structs, as the host compiler lays them
/// out from `mini-xen/include/public/HEADER`: keys are `struct name` for
/// `sizeof` and `struct name.field` for `offsetof`.
pub fn c_layout(header: &str, structs: &[(&str, &[&str])]) -> HashMap<String, u64> {
    use std::fmt::Write;
    let mut src = format!(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"public/{header}\"\nint main(void)\n{{\n"
    );
    for (ty, fields) in structs {
        let _ = writeln!(src, "    printf(\"{ty}=%zu\\n\", sizeof({ty}));");
        for f in *fields {
            let _ = writeln!(src, "    printf(\"{ty}.{f}=%zu\\n\", offsetof({ty}, {f}));");
        }
    }
    src.push_str("    return 0;\n}\n");
    // Tests run in parallel and may probe the same header: one directory
    // per call.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "c_layout-{}-{}-{n}",
        std::process::id(),
        header.replace('.', "_")
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let c = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&c, src).expect("write probe");
    let include = format!("{}/../mini-xen/include", env!("CARGO_MANIFEST_DIR"));
    let st = std::process::Command::new("gcc")
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .status()
        .expect("gcc runs");
    assert!(st.success(), "probe for {header} did not compile");
    let out = std::process::Command::new(&exe)
        .output()
        .expect("probe runs");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
