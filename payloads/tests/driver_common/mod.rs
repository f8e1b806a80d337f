//! Helpers for the `livepatch-build` tests: private copies of the mini-xen
//! tree (tests run in parallel and never touch the real tree), running the
//! binary, and redacting reports for snapshots.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use payloads::driver::tree::Manifest;

/// The real mini-xen tree (only ever read).
pub fn mini_xen() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mini-xen")
}

/// The source patches shipped with the crate.
pub fn patch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("patches")
        .join(format!("{name}.patch"))
}

/// A fresh directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("livepatch-build-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for ent in std::fs::read_dir(src).unwrap() {
        let ent = ent.unwrap();
        let name = ent.file_name();
        let from = ent.path();
        let to = dst.join(&name);
        let ft = ent.file_type().unwrap();
        if ft.is_dir() {
            // The default build directory is not part of the sources.
            if src == mini_xen().as_path() && name == "build" {
                continue;
            }
            copy_dir(&from, &to);
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

/// How the private copy compiles the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codegen {
    /// As the real tree does (`-fpic`, hidden visibility, as Xen).
    AsIs,
    /// `-fno-pic` instead of `-fpic` (mini-xen before it followed Xen):
    /// code taking addresses uses R_X86_64_32/32S.
    NoPic,
}

/// Compile a copy with `-fno-pic -fno-pie` instead of `-fpic`.
pub fn make_nopic(tree: &Path) {
    let mk = tree.join("Makefile");
    let text = std::fs::read_to_string(&mk).unwrap();
    let mut done = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.starts_with("CFLAGS") && l.contains(" -fpic") {
                done = true;
                l.replacen(" -fpic", " -fno-pic -fno-pie", 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    if !done {
        assert!(
            text.contains("-fno-pic"),
            "no -fpic in the CFLAGS of {}",
            mk.display()
        );
        return;
    }
    std::fs::write(&mk, lines.join("\n") + "\n").unwrap();
}

/// A private copy of mini-xen's sources in `dir/src`.
pub fn copy_tree(dir: &Path, codegen: Codegen) -> PathBuf {
    let src = dir.join("src");
    copy_dir(&mini_xen(), &src);
    if codegen == Codegen::NoPic {
        make_nopic(&src);
    }
    src
}

/// Checksum of a tree (what the driver verifies).
pub fn checksum(tree: &Path) -> String {
    Manifest::scan(tree, &[]).unwrap().digest()
}

/// Result of running the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// The binary, with its default build cache in the target directory
/// (shared by the tests, never the user's).
pub fn livepatch_build() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_livepatch-build"));
    c.env(
        "XDG_CACHE_HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("livepatch-build-cache-home"),
    );
    c
}

fn to_run(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `livepatch-build -s TREE -p PATCH -o OUT -j2 EXTRA...`.
pub fn build(tree: &Path, patch: &Path, out: &Path, extra: &[&str]) -> Run {
    let o = livepatch_build()
        .arg("-s")
        .arg(tree)
        .arg("-p")
        .arg(patch)
        .arg("-o")
        .arg(out)
        .args(if extra.iter().any(|a| a.starts_with("-j")) {
            &[][..]
        } else {
            &["-j2"][..]
        })
        .args(extra)
        .output()
        .expect("run livepatch-build");
    to_run(o)
}

/// Replace what differs between runs and trees: temporary paths, build-ids
/// (40 hex digits) and addresses.
pub fn redact(text: &str, dirs: &[&Path]) -> String {
    let mut s = text.to_string();
    for d in dirs {
        s = s.replace(&d.display().to_string(), "<dir>");
    }
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex_run = |from: usize| {
            b[from..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count()
        };
        if b[i..].starts_with(b"0x") && hex_run(i + 2) >= 5 {
            let n = hex_run(i + 2);
            out.push_str("<addr>");
            i += 2 + n;
            continue;
        }
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if word_start && b[i].is_ascii_hexdigit() {
            let n = hex_run(i);
            let end = i + n;
            let word_end = end >= b.len() || !b[end].is_ascii_alphanumeric();
            if n >= 32 && word_end {
                out.push_str("<build-id>");
                i = end;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Write a unified diff that changes `old` into `new` in `file` of `tree`
/// (made with `diff -u`, as a/ b/ paths).
pub fn make_patch(tree: &Path, file: &str, old: &str, new: &str, out: &Path) {
    let path = tree.join(file);
    let orig = std::fs::read_to_string(&path).unwrap();
    assert!(orig.contains(old), "{file} does not contain {old:?}");
    let patched = orig.replacen(old, new, 1);
    let tmp = out.with_extension("work");
    std::fs::create_dir_all(tmp.join("a").join(file).parent().unwrap()).unwrap();
    std::fs::create_dir_all(tmp.join("b").join(file).parent().unwrap()).unwrap();
    std::fs::write(tmp.join("a").join(file), orig).unwrap();
    std::fs::write(tmp.join("b").join(file), patched).unwrap();
    let o = Command::new("diff")
        .current_dir(&tmp)
        .args(["-u", &format!("a/{file}"), &format!("b/{file}")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "diff failed");
    std::fs::write(out, o.stdout).unwrap();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Numbers that change whenever mini-xen gains a file.
pub fn stable(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut l = l.to_string();
            for (prefix, suffix) in [("objects: ", " compared"), ("(", " files checked)")] {
                if let Some(a) = l.find(prefix) {
                    let from = a + prefix.len();
                    if let Some(b) = l[from..].find(suffix) {
                        if l[from..from + b].chars().all(|c| c.is_ascii_digit()) && b > 0 {
                            l.replace_range(from..from + b, "<n>");
                        }
                    }
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../../../snapshots/payloads",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}
