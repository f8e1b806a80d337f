//! Payloads the loader must refuse, made by one precise edit of a test
//! payload each (the holes the fuzzer's mutation classes reach): refused
//! at UPLOAD with the errno below and one console line naming the defect,
//! nothing left behind (the harness checks GET and the counters), the
//! guests answering as before.

use loaderfuzz::elf::{self, rela, shdr, sym, Layout};
use loaderfuzz::harness::{Harness, Plan};

fn payload(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/../payloads/build/test/{name}.livepatch",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e} (run `make build`)"))
}

fn put(b: &mut [u8], at: usize, v: u64, width: usize) {
    b[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

fn sec(l: &Layout, name: &str) -> elf::Section {
    l.by_name(name)
        .unwrap_or_else(|| panic!("no section {name}"))
        .clone()
}

/// The file offset of relocation `k` of section `name`.
fn rela_at(l: &Layout, name: &str, k: usize) -> usize {
    Layout::entries(&sec(l, name), rela::LEN)[k]
}

struct Edit {
    base: &'static str,
    what: &'static str,
    rc: i64,
    console: &'static str,
    edit: fn(&mut Vec<u8>, &Layout),
}

const EINVAL: i64 = -22;

fn edits() -> Vec<Edit> {
    vec![
        Edit {
            base: "xen_hooks",
            what: "relocations of 48 bytes each (every other one skipped)",
            rc: EINVAL,
            console: ".rela.text.xen_hooks_post_revert has entry size 48",
            edit: |b, l| {
                let h = sec(l, ".rela.text.xen_hooks_post_revert").hdr;
                put(b, h + shdr::ENTSIZE, 48, 8);
            },
        },
        Edit {
            base: "xen_replace_world",
            what: "code shifted by one byte in the file",
            rc: EINVAL,
            console: "is not 16-byte aligned",
            edit: |b, l| {
                let s = sec(l, ".text.xen_replace_world");
                put(b, s.hdr + shdr::OFFSET, s.offset + 1, 8);
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "executable SHT_NOBITS",
            rc: EINVAL,
            console: "is executable SHT_NOBITS",
            edit: |b, l| put(b, sec(l, ".text.xen_hello_world").hdr + shdr::TYPE, 8, 4),
        },
        Edit {
            base: "xen_hello_world",
            what: "section data overlapping another section's",
            rc: EINVAL,
            console: "overlap",
            edit: |b, l| {
                let text = sec(l, ".text.xen_hello_world").offset;
                put(
                    b,
                    sec(l, ".rodata.hello_world_patch_this_fnc").hdr + shdr::OFFSET,
                    text,
                    8,
                );
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "section data overlapping the section headers",
            rc: EINVAL,
            console: "overlaps the section headers",
            edit: |b, l| put(b, sec(l, ".modinfo").hdr + shdr::OFFSET, l.shoff as u64, 8),
        },
        Edit {
            base: "xen_hello_world",
            what: "a function symbol past the end of its section",
            rc: EINVAL,
            console: "symbol xen_hello_world (0+0x2b) is outside section [6] of 0x2a bytes",
            edit: |b, l| {
                let s = l.symbols(b).expect("symbols");
                let f = s
                    .iter()
                    .find(|s| s.name == "xen_hello_world")
                    .expect("symbol");
                put(b, f.at + sym::SIZE, 0x2b, 8);
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "a relocation section applied to another section than its name says",
            rc: EINVAL,
            console: ".rela.text.xen_hello_world applies to section [3] .text.hello_read_unsafe",
            edit: |b, l| {
                let t = sec(l, ".text.hello_read_unsafe").index as u64;
                put(
                    b,
                    sec(l, ".rela.text.xen_hello_world").hdr + shdr::INFO,
                    t,
                    4,
                );
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "new_addr one byte into the replacement function",
            rc: EINVAL,
            console: "is not the start of a function of the payload",
            edit: |b, l| {
                let at = rela_at(l, ".rela.livepatch.funcs", 1);
                put(b, at + rela::ADDEND, 1, 8);
            },
        },
        Edit {
            base: "xen_hooks",
            what: "a hook one byte into its function",
            rc: EINVAL,
            console: ".livepatch.hooks.preapply[0] = 0x",
            edit: |b, l| {
                let at = rela_at(l, ".rela.livepatch.hooks.preapply", 0);
                put(b, at + rela::ADDEND, 1, 8);
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "a second .livepatch.funcs",
            rc: EINVAL,
            console: "are both .livepatch.funcs",
            edit: |b, l| {
                let name =
                    elf::u32_at(b, sec(l, ".livepatch.funcs").hdr + shdr::NAME).expect("name");
                put(b, sec(l, ".modinfo").hdr + shdr::NAME, u64::from(name), 4);
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "an exception-table entry outside the payload's text",
            rc: EINVAL,
            console: ".ex_table[0] (0x",
            edit: |b, l| {
                // R_X86_64_NONE: the displacement stays 0, the entry points
                // at itself.
                let at = rela_at(l, ".rela.ex_table", 0);
                let info = elf::u64_at(b, at + rela::INFO).expect("info");
                put(b, at + rela::INFO, info & !0xffff_ffff, 8);
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "an unallocated .ex_table",
            rc: EINVAL,
            console: ".ex_table is 16 bytes, not a multiple of 8, or not allocated",
            edit: |b, l| {
                let h = sec(l, ".ex_table").hdr + shdr::FLAGS;
                let f = elf::u64_at(b, h).expect("flags");
                put(b, h, f & !elf::SHF_ALLOC, 8);
            },
        },
        Edit {
            base: "xen_hello_world",
            what: "a bug frame outside the payload's text",
            rc: EINVAL,
            console: ".bug_frames.1[0] does not describe code of the payload",
            edit: |b, l| {
                let at = rela_at(l, ".rela.bug_frames.1", 0);
                let info = elf::u64_at(b, at + rela::INFO).expect("info");
                put(b, at + rela::INFO, info & !0xffff_ffff, 8);
            },
        },
    ]
}

#[test]
fn each_structural_defect_is_refused_with_one_line() {
    let image = emulator::Image::load(&emulator::Image::default_path()).expect("run `make image`");
    let mut h = Harness::new(image, 2).expect("harness");
    for e in edits() {
        let mut b = payload(e.base);
        let l = Layout::parse(&b).expect("layout");
        (e.edit)(&mut b, &l);
        let out = h.run_case(&b, Plan::Apply).expect("case");
        let console = h.console_since_snapshot();
        assert_eq!(out.failure, None, "{}: {console}", e.what);
        assert_eq!(out.upload_rc, e.rc, "{}:\n{console}", e.what);
        let lines: Vec<&str> = console
            .lines()
            .filter(|l| l.contains("livepatch: fuzz: "))
            .collect();
        assert_eq!(lines.len(), 1, "{}: one line expected:\n{console}", e.what);
        assert!(
            lines[0].contains(e.console),
            "{}: {:?} missing:\n{console}",
            e.what,
            e.console
        );
    }
    // And the unedited payloads still go all the way.
    for base in ["xen_hello_world", "xen_hooks"] {
        let out = h.run_case(&payload(base), Plan::Apply).expect("case");
        assert_eq!(
            (out.upload_rc, out.action, out.failure),
            (0, Some((0, Some(0))), None),
            "{base}"
        );
    }
}

/// The harness sees a crash: `xen_hooks_veto` with its pre-apply hook
/// pointing at its post-apply function (well-formed: the loader cannot
/// judge it), which BUG()s by design.
#[test]
fn the_harness_reports_a_payload_that_crashes_the_hypervisor() {
    use loaderfuzz::harness::{Class, Step};
    let image = emulator::Image::load(&emulator::Image::default_path()).expect("run `make image`");
    let mut h = Harness::new(image, 2).expect("harness");
    let mut b = payload("xen_hooks_veto");
    let l = Layout::parse(&b).expect("layout");
    let syms = l.symbols(&b).expect("symbols");
    let post = syms
        .iter()
        .find(|s| s.name == "veto_post_apply")
        .expect("veto_post_apply");
    let at = rela_at(&l, ".rela.livepatch.hooks.preapply", 0);
    let info = elf::u64_at(&b, at + rela::INFO).expect("info");
    put(
        &mut b,
        at + rela::INFO,
        ((post.index as u64) << 32) | (info & 0xffff_ffff),
        8,
    );
    let out = h.run_case(&b, Plan::ApplyNodeps).expect("case");
    let Some(f) = out.failure.clone() else {
        panic!("no failure: {out:?}\n{}", h.console_since_snapshot());
    };
    assert_eq!(
        (f.class(), f.step()),
        (Class::Crash, Some(Step::Apply)),
        "{f}"
    );
    assert!(
        f.to_string()
            .contains("Xen BUG at test/livepatch/xen_hooks_veto.c"),
        "{f}"
    );
}
