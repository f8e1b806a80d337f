//! Test helpers: compile C pairs with gcc, link a stand-in XEN-SYMS with ld,
//! run the diff (library or binary) and inspect the payload object.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use object::read::elf::{FileHeader, Rela as _, SectionHeader as _, Sym as _};
use object::{elf, LittleEndian as LE};

pub const CFLAGS: [&str; 8] = [
    "-ffunction-sections",
    "-fdata-sections",
    "-O2",
    "-fno-pic",
    "-mno-red-zone",
    "-fno-omit-frame-pointer",
    "-fno-asynchronous-unwind-tables",
    "-c",
];

/// A compiled original/patched pair plus XEN-SYMS, in its own directory.
pub struct Pair {
    pub dir: PathBuf,
    pub orig: PathBuf,
    pub patched: PathBuf,
    pub xen: PathBuf,
    pub out: PathBuf,
}

pub fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("payloads-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compile(dir: &Path, src: &str, out: &Path) {
    compile_as(dir, src, out, &CFLAGS);
}

fn compile_as(dir: &Path, src: &str, out: &Path, flags: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("lp.c"), src).unwrap();
    let st = Command::new("gcc")
        .current_dir(dir)
        .args(flags)
        .arg("lp.c")
        .arg("-o")
        .arg(out)
        .status()
        .expect("gcc must be installed");
    assert!(st.success(), "gcc failed for {}", dir.display());
}

/// Compile both sources as `lp.c` (so the STT_FILE names match) and link the
/// original into an executable-like ELF standing in for xen-syms.
pub fn build(name: &str, orig_c: &str, patched_c: &str) -> Pair {
    let dir = test_dir(name);
    let orig = dir.join("orig.o");
    let patched = dir.join("patched.o");
    compile(&dir.join("orig"), orig_c, &orig);
    compile(&dir.join("patched"), patched_c, &patched);
    pair(dir, orig, patched)
}

/// As [`build`], compiled `-fpic` with hidden visibility (as mini-xen and
/// Xen): `const` tables of addresses land in `.data.rel.ro.*`.
pub fn build_pic(name: &str, orig_c: &str, patched_c: &str) -> Pair {
    let dir = test_dir(name);
    let orig = dir.join("orig.o");
    let patched = dir.join("patched.o");
    let flags: Vec<&str> = CFLAGS
        .iter()
        .map(|f| if *f == "-fno-pic" { "-fpic" } else { f })
        .chain(["-fvisibility=hidden"])
        .collect();
    compile_as(&dir.join("orig"), orig_c, &orig, &flags);
    compile_as(&dir.join("patched"), patched_c, &patched, &flags);
    pair(dir, orig, patched)
}

/// The pair of objects in `dir`, with xen-syms linked from the original.
fn pair(dir: PathBuf, orig: PathBuf, patched: PathBuf) -> Pair {
    let xen = dir.join("xen-syms");
    link_xen(&orig, &xen);
    Pair {
        out: dir.join("out.o"),
        dir,
        orig,
        patched,
        xen,
    }
}

pub fn link_xen(obj: &Path, xen: &Path) {
    let st = Command::new("ld")
        .args([
            "-e",
            "0",
            "-Ttext=0x100000",
            "--unresolved-symbols=ignore-all",
            "-o",
        ])
        .arg(xen)
        .arg(obj)
        .status()
        .expect("ld must be installed");
    assert!(st.success(), "ld failed");
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn cdo_args(args: &[&std::ffi::OsStr]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_create-diff-object"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run the binary on a pair.
pub fn cdo(pair: &Pair, extra: &[&str]) -> Run {
    let mut args: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    args.push(pair.orig.as_os_str());
    args.push(pair.patched.as_os_str());
    args.push(pair.xen.as_os_str());
    args.push(pair.out.as_os_str());
    cdo_args(&args)
}

/// Run the library on a pair.
pub fn diff(pair: &Pair) -> Result<payloads::DiffOutput, payloads::DiffError> {
    let orig = std::fs::read(&pair.orig).unwrap();
    let patched = std::fs::read(&pair.patched).unwrap();
    let xen = payloads::symtab::XenSymbols::parse(&std::fs::read(&pair.xen).unwrap(), "xen-syms")
        .unwrap();
    payloads::diff_objects(&orig, &patched, &xen, &payloads::DiffOptions::new("lp.o"))
}

/// Address of a symbol in the stand-in xen-syms.
pub fn xen_addr(pair: &Pair, name: &str) -> u64 {
    let data = std::fs::read(&pair.xen).unwrap();
    let obj = ElfView::parse(&data);
    obj.symbols
        .iter()
        .find(|s| s.name == name && s.shndx != 0)
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("{name} not in xen-syms"))
}

#[derive(Debug, Clone)]
pub struct ViewSym {
    pub name: String,
    pub kind: u8,
    pub bind: u8,
    pub shndx: u32,
    pub value: u64,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct ViewReloc {
    pub offset: u64,
    pub r_type: u32,
    pub sym: usize,
    pub addend: i64,
}

#[derive(Debug, Clone)]
pub struct ViewSection {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub size: u64,
    pub data: Vec<u8>,
    pub relocs: Vec<ViewReloc>,
}

/// A simple independent view of an ELF object, for assertions.
pub struct ElfView {
    pub sections: Vec<ViewSection>,
    pub symbols: Vec<ViewSym>,
}

impl ElfView {
    pub fn parse(data: &[u8]) -> ElfView {
        let hdr = elf::FileHeader64::<LE>::parse(data).unwrap();
        let endian = hdr.endian().unwrap();
        let table = hdr.sections(endian, data).unwrap();
        let symtab = table.symbols(endian, data, elf::SHT_SYMTAB).unwrap();
        let mut sections: Vec<ViewSection> = table
            .iter()
            .map(|sh| ViewSection {
                name: String::from_utf8_lossy(table.section_name(endian, sh).unwrap()).into_owned(),
                sh_type: sh.sh_type(endian),
                flags: sh.sh_flags(endian),
                size: sh.sh_size(endian),
                data: if sh.sh_type(endian) == elf::SHT_NOBITS {
                    Vec::new()
                } else {
                    sh.data(endian, data).unwrap().to_vec()
                },
                relocs: Vec::new(),
            })
            .collect();
        for sh in table.iter() {
            if let Some((relas, _)) = sh.rela(endian, data).unwrap() {
                let target = sh.sh_info(endian) as usize;
                for r in relas {
                    sections[target].relocs.push(ViewReloc {
                        offset: r.r_offset(endian),
                        r_type: r.r_type(endian, false),
                        sym: r.r_sym(endian, false) as usize,
                        addend: r.r_addend(endian),
                    });
                }
            }
        }
        let symbols = symtab
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut name =
                    String::from_utf8_lossy(symtab.symbol_name(endian, s).unwrap()).into_owned();
                let shndx = symtab
                    .symbol_section(endian, s, object::SymbolIndex(i))
                    .unwrap()
                    .map(|x| x.0 as u32)
                    .unwrap_or(u32::from(s.st_shndx(endian)));
                if s.st_type() == elf::STT_SECTION {
                    name = sections[shndx as usize].name.clone();
                }
                ViewSym {
                    name,
                    kind: s.st_type(),
                    bind: s.st_bind(),
                    shndx,
                    value: s.st_value(endian),
                    size: s.st_size(endian),
                }
            })
            .collect();
        ElfView { sections, symbols }
    }

    pub fn section(&self, name: &str) -> Option<&ViewSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.section(name).is_some()
    }

    pub fn defined(&self, name: &str) -> Option<&ViewSym> {
        self.symbols
            .iter()
            .find(|s| s.name == name && s.shndx != 0 && s.kind != elf::STT_SECTION)
    }

    pub fn undefined(&self, name: &str) -> bool {
        self.symbols.iter().any(|s| s.name == name && s.shndx == 0)
    }

    /// Decoded `.livepatch.funcs`: (name, new_addr target symbol, old_addr, new_size, old_size, version).
    pub fn funcs(&self) -> Vec<(String, String, u64, u32, u32, u8)> {
        let Some(sec) = self.section(".livepatch.funcs") else {
            return Vec::new();
        };
        let strings = self.section(".livepatch.strings").unwrap();
        assert_eq!(sec.size % 104, 0);
        let mut out = Vec::new();
        for (i, e) in sec.data.chunks(104).enumerate() {
            let base = (i * 104) as u64;
            let name_rel = sec.relocs.iter().find(|r| r.offset == base).unwrap();
            let start = name_rel.addend as usize;
            let end = start + strings.data[start..].iter().position(|&b| b == 0).unwrap();
            let name = String::from_utf8_lossy(&strings.data[start..end]).into_owned();
            let new_rel = sec.relocs.iter().find(|r| r.offset == base + 8).unwrap();
            assert_eq!(new_rel.r_type, elf::R_X86_64_64);
            let target = self.symbols[new_rel.sym].name.clone();
            assert!(
                e[33..104].iter().all(|&b| b == 0),
                "opaque/expect must be zero"
            );
            out.push((
                name,
                target,
                u64::from_le_bytes(e[16..24].try_into().unwrap()),
                u32::from_le_bytes(e[24..28].try_into().unwrap()),
                u32::from_le_bytes(e[28..32].try_into().unwrap()),
                e[32],
            ));
        }
        out
    }

    /// Names of the symbols the relocations of `section` refer to.
    pub fn reloc_targets(&self, section: &str) -> Vec<String> {
        self.section(section)
            .map(|s| {
                s.relocs
                    .iter()
                    .map(|r| self.symbols[r.sym].name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Check that `ld -r` accepts the payload object.
pub fn assert_links(path: &Path) {
    let out = path.with_extension("linked.o");
    let st = Command::new("ld")
        .arg("-r")
        .arg("-o")
        .arg(&out)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "ld -r rejected the payload: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

/// Compile several sources (each as `lp.c` in its own directory) and combine
/// them with `ld -r` into one object, for orig and patched alike.
pub fn build_combined(name: &str, orig: &[&str], patched: &[&str]) -> Pair {
    let dir = test_dir(name);
    let combine = |tag: &str, srcs: &[&str]| -> PathBuf {
        let mut objs = Vec::new();
        for (i, src) in srcs.iter().enumerate() {
            let o = dir.join(format!("{tag}{i}.o"));
            compile(&dir.join(format!("{tag}{i}")), src, &o);
            objs.push(o);
        }
        let out = dir.join(format!("{tag}.o"));
        let st = Command::new("ld")
            .arg("-r")
            .arg("-o")
            .arg(&out)
            .args(&objs)
            .status()
            .unwrap();
        assert!(st.success());
        out
    };
    let orig = combine("orig", orig);
    let patched = combine("patched", patched);
    pair(dir, orig, patched)
}
