//! `livepatch-build` end to end on private copies of the mini-xen tree:
//! determinism, each refusal with its message, the build cache, and the
//! source tree left unchanged after failures and interrupts. (The report of
//! every shipped patch is snapshotted by `equivalence.rs`, which builds each
//! patch once.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod driver_common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use driver_common::*;

#[test]
fn two_builds_give_identical_payloads() {
    let dir = test_dir("determinism");
    // Two copies of the tree in different places, two output directories.
    let t1 = copy_tree(&dir.join("one"), Codegen::AsIs);
    let t2 = copy_tree(&dir.join("two"), Codegen::AsIs);
    let p = patch("xsa-evtchn-port0-shadow");
    let r1 = build(&t1, &p, &dir.join("out1"), &[]);
    assert_eq!(r1.code, 0, "{}", r1.all());
    let r2 = build(&t2, &p, &dir.join("out2"), &["-j1"]);
    assert_eq!(r2.code, 0, "{}", r2.all());
    let a = std::fs::read(dir.join("out1/xsa-evtchn-port0-shadow.livepatch")).unwrap();
    let b = std::fs::read(dir.join("out2/xsa-evtchn-port0-shadow.livepatch")).unwrap();
    assert!(a == b, "payloads differ ({} vs {} bytes)", a.len(), b.len());
    assert_eq!(
        redact(&r1.stdout, &[&dir.join("one"), &dir.join("out1")]),
        redact(&r2.stdout, &[&dir.join("two"), &dir.join("out2")])
    );
}

#[test]
fn depends_and_name_options_are_honoured() {
    let dir = test_dir("options");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let out = dir.join("out");
    let dep = "0x00112233445566778899aabbccddeeff00112233";
    let cfg = dir.join("xen.config");
    std::fs::write(&cfg, "CONFIG_LIVEPATCH=y\n").unwrap();
    let run = build(
        &tree,
        &patch("lp-extraversion"),
        &out,
        &[
            "--depends",
            dep,
            "-n",
            "stacked_lp",
            "-c",
            cfg.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let bytes = std::fs::read(out.join("stacked_lp.livepatch")).unwrap();
    let file = object::File::parse(&*bytes).unwrap();
    use object::{Object as _, ObjectSection as _};
    let depends = file.section_by_name(".livepatch.depends").unwrap();
    let d = depends.data().unwrap();
    assert_eq!(&d[..16], b"\x04\0\0\0\x14\0\0\0\x03\0\0\0GNU\0");
    assert_eq!(
        d[16..].to_vec(),
        (0..20u8).map(|i| (i % 16) * 0x11).collect::<Vec<_>>()
    );
    // xen_depends defaults to the hypervisor's build-id.
    let xen_elf = std::fs::read(out.join(".build/orig/mini-xen")).unwrap();
    let xen_id = object::File::parse(&*xen_elf)
        .unwrap()
        .build_id()
        .unwrap()
        .unwrap()
        .to_vec();
    let xd = file.section_by_name(".livepatch.xen_depends").unwrap();
    assert_eq!(xd.data().unwrap()[16..].to_vec(), xen_id);
    // .livepatch.funcs is read-only, as in the test payloads.
    let funcs = file.section_by_name(".livepatch.funcs").unwrap();
    match funcs.flags() {
        object::SectionFlags::Elf { sh_flags } => {
            assert_eq!(sh_flags & u64::from(object::elf::SHF_WRITE), 0)
        }
        f => panic!("{f:?}"),
    }
    assert!(run.stdout.contains("recorded, not used"), "{}", run.stdout);
    assert!(out.join("config").is_file());
}

#[test]
fn bad_build_id_option_is_refused_before_building() {
    let dir = test_dir("bad-depends");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let run = build(
        &tree,
        &patch("lp-extraversion"),
        &dir.join("out"),
        &["--depends", "xyz"],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("--depends xyz: not a build-id"),
        "{}",
        run.all()
    );
    assert!(!dir.join("out/.build").exists());
}

#[test]
fn changed_data_is_refused_with_the_symbol_name() {
    let dir = test_dir("changed-data");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("changed-data.patch");
    make_patch(
        &tree,
        "common/console.c",
        "static int panic_cpu = -1;",
        "static int panic_cpu = -2;",
        &p,
    );
    let before = checksum(&tree);
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("common/console.o: changed writable data `panic_cpu` in .data.panic_cpu")
            && run.stderr.contains("live state the payload cannot replace"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("REFUSED"), "{}", run.stdout);
    assert!(!dir.join("out/changed-data.livepatch").exists());
    assert_eq!(checksum(&tree), before);
}

/// A patch that changes code and writable data: the report of the refused
/// build names the refusal and claims nothing about a payload.
#[test]
fn refused_build_reports_only_the_refusal() {
    let dir = test_dir("refused-report");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("refused.patch");
    make_patch(
        &tree,
        "common/console.c",
        "static int panic_cpu = -1;\n\nstatic void serial_putc(char c)\n{\n    outb(c, PORT_COM1_DATA);",
        "static int panic_cpu = -2;\n\nstatic void serial_putc(char c)\n{\n    outb(c & 0x7f, PORT_COM1_DATA);",
        &p,
    );
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        !run.stdout.contains("replaces the hypervisor's copy"),
        "{}",
        run.stdout
    );
    snapshot(
        "livepatch_build_refused_report",
        &stable(&redact(&run.stdout, &[&dir])),
    );
}

#[test]
fn function_shorter_than_the_jump_is_refused() {
    let dir = test_dir("too-small");
    let tree = copy_tree(&dir, Codegen::AsIs);
    // The tree (and so the running hypervisor) gets a 1-byte function.
    let tiny = |body: &str| {
        format!(
            "\nasm(\".pushsection .text.lp_tiny, \\\"ax\\\", @progbits\\n\"\n    \".globl lp_tiny\\n.type lp_tiny, @function\\n\"\n    \"lp_tiny:\\n{body}\\n.size lp_tiny, . - lp_tiny\\n.popsection\");\n"
        )
    };
    let f = tree.join("common/kernel.c");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str(&tiny("ret"));
    std::fs::write(&f, text).unwrap();
    let p = dir.join("tiny.patch");
    make_patch(
        &tree,
        "common/kernel.c",
        &tiny("ret"),
        &tiny("xor %eax, %eax\\nret"),
        &p,
    );
    let before = checksum(&tree);
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(
            "changed function `lp_tiny` is 1 bytes, too small to patch (needs at least 5)"
        ),
        "{}",
        run.all()
    );
    assert_eq!(checksum(&tree), before);
}

#[test]
fn code_the_patch_window_runs_is_refused_with_its_reason() {
    // arch_livepatch_post_action() serialises every CPU inside the
    // rendezvous: it is in .text.unpatchable, and the loader would refuse
    // the payload with -EINVAL. The build says so first, naming it.
    let dir = test_dir("unpatchable");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("post-action.patch");
    make_patch(
        &tree,
        "arch/x86/livepatch_arch.c",
        "    unsigned int eax = 0, ebx, ecx = 0, edx;",
        "    unsigned int eax = 1, ebx, ecx = 0, edx;",
        &p,
    );
    let before = checksum(&tree);
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(
            "`arch_livepatch_post_action` (arch/x86/livepatch_arch.o) cannot be live-patched: \
             it runs while patches are written"
        ),
        "{}",
        run.all()
    );
    assert!(!dir.join("out/post-action.livepatch").exists());
    assert_eq!(checksum(&tree), before);
}

#[test]
fn patch_that_does_not_apply_is_refused_and_nothing_changes() {
    let dir = test_dir("does-not-apply");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("stale.patch");
    std::fs::write(
        &p,
        "--- a/common/memory.c\n+++ b/common/memory.c\n@@ -20,3 +20,3 @@\n-this line is not in the file\n+neither is this one\n context\n",
    )
    .unwrap();
    let before = checksum(&tree);
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("stale.patch does not apply to")
            && run.stderr.contains("--fuzz=0")
            && run.stderr.contains("the tree was not changed"),
        "{}",
        run.all()
    );
    assert_eq!(checksum(&tree), before);
    // Refused before any build.
    assert!(!dir.join("out/.build/orig/mini-xen").exists());
}

#[test]
fn tree_is_unchanged_after_a_failed_patched_build() {
    let dir = test_dir("compile-error");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("broken.patch");
    make_patch(
        &tree,
        "common/memory.c",
        "    uint64_t *p;\n",
        "    uint64_t *p = this_does_not_compile;\n",
        &p,
    );
    let before = checksum(&tree);
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("the patched build failed")
            && run.stderr.contains("this_does_not_compile")
            && run.stderr.contains("build_patched.log")
            && run.stderr.contains("fix the patch"),
        "{}",
        run.all()
    );
    assert_eq!(checksum(&tree), before, "the tree was not restored");
    assert!(
        run.stderr
            .contains("reverted the patch; source tree unchanged"),
        "{}",
        run.all()
    );
}

#[test]
fn comment_only_patch_has_no_changes() {
    let dir = test_dir("no-changes");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("comment.patch");
    make_patch(
        &tree,
        "common/memory.c",
        " * The memory_op hypercall.",
        " * The memory_op hypercall (XENMEM_*).",
        &p,
    );
    let run = build(&tree, &p, &dir.join("out"), &[]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("no functional changes found"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("objects:") && run.stdout.contains(" 0 differ"));
}

#[test]
fn absolute_relocations_of_nopic_code_are_refused_at_build_time() {
    let dir = test_dir("nopic");
    let tree = copy_tree(&dir, Codegen::NoPic);
    let run = build(&tree, &patch("lp-extraversion"), &dir.join("out"), &[]);
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr.contains(
            "common/version.o: .text.xen_extra_version+0x1: relocation R_X86_64_32 is not supported by the payload loader"
        ),
        "{}",
        run.all()
    );
    assert!(run
        .stdout
        .contains("Build the hypervisor with -fpic and hidden visibility"));
    assert!(!dir.join("out/lp-extraversion.livepatch").exists());
}

#[test]
fn xen_syms_of_another_build_is_refused() {
    let dir = test_dir("wrong-xen-syms");
    let tree = copy_tree(&dir, Codegen::AsIs);
    // A hypervisor built from other sources: the non-PIC tree.
    let other = copy_tree(&dir.join("other"), Codegen::NoPic);
    let st = std::process::Command::new("make")
        .arg("-C")
        .arg(&other)
        .arg(format!("O={}", dir.join("other-build").display()))
        .arg("-j2")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let xen = dir.join("other-build/mini-xen");
    let run = build(
        &tree,
        &patch("lp-extraversion"),
        &dir.join("out"),
        &["--xen-syms", xen.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("the tree is not the source of that hypervisor"),
        "{}",
        run.all()
    );
}

#[test]
fn interrupt_during_the_patched_build_restores_the_tree() {
    let dir = test_dir("interrupt");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let before = checksum(&tree);
    let touched = tree.join("common/event_channel.c");
    let orig = std::fs::read(&touched).unwrap();
    let mut child = livepatch_build()
        .arg("-s")
        .arg(&tree)
        .arg("-p")
        .arg(patch("xsa-evtchn-port0-shadow"))
        .arg("-o")
        .arg(dir.join("out"))
        .arg("-j1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the patch is applied, then interrupt.
    let t0 = Instant::now();
    let mut sent = false;
    while t0.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::fs::read(&touched).map(|d| d != orig).unwrap_or(false) {
            let st = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(st.success());
            sent = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(sent, "the patch was never seen applied:\n{stderr}");
    // The build may just have finished when the signal came.
    let code = out.status.code();
    assert!(code == Some(130) || code == Some(0), "{code:?}\n{stderr}");
    if code == Some(130) {
        assert!(stderr.contains("restored"), "{stderr}");
    }
    assert_eq!(checksum(&tree), before, "tree not restored:\n{stderr}");
}

#[test]
fn new_source_file_is_included_whole() {
    let dir = test_dir("new-file");
    let tree = copy_tree(&dir, Codegen::AsIs);
    // A patch adding common/lp_extra.c to the build, and a caller.
    let work = dir.join("patchwork");
    for side in ["a", "b"] {
        std::fs::create_dir_all(work.join(side).join("common")).unwrap();
        std::fs::copy(tree.join("Makefile"), work.join(side).join("Makefile")).unwrap();
    }
    let mk = std::fs::read_to_string(tree.join("Makefile")).unwrap();
    std::fs::write(
        work.join("b/Makefile"),
        mk.replacen(
            "    common/kernel.c \\\n",
            "    common/kernel.c \\\n    common/lp_extra.c \\\n",
            1,
        ),
    )
    .unwrap();
    std::fs::write(
        work.join("b/common/lp_extra.c"),
        "/* New file. */\n#include <xen/lib.h>\n\nunsigned int lp_extra_answer(unsigned int x)\n{\n    return x * 7 + 3;\n}\n",
    )
    .unwrap();
    let o = std::process::Command::new("diff")
        .current_dir(&work)
        .args(["-ruN", "a", "b"])
        .output()
        .unwrap();
    let p = dir.join("new-file.patch");
    std::fs::write(&p, o.stdout).unwrap();
    let before = checksum(&tree);
    let run = build(&tree, &p, &dir.join("out"), &[]);
    // A new object with no changed function is a valid payload only
    // through its new code; the loader needs .livepatch.funcs or hooks, so
    // the driver refuses it as unpatchable with the loader's reason.
    assert_eq!(checksum(&tree), before, "{}", run.all());
    assert!(!tree.join("common/lp_extra.c").exists());
    assert!(run.stdout.contains("common/lp_extra.o"), "{}", run.all());
    assert!(
        run.stdout.contains("new object, included whole"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("lp_extra_answer"), "{}", run.all());
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stdout.contains("nothing to patch: no .livepatch.funcs"),
        "{}",
        run.all()
    );
}

#[test]
fn missing_inputs_are_named() {
    let dir = test_dir("missing");
    let run = build(
        Path::new("/nonexistent/tree"),
        &patch("lp-extraversion"),
        &dir.join("out"),
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--srcdir /nonexistent/tree"),
        "{}",
        run.all()
    );
    let tree = copy_tree(&dir, Codegen::AsIs);
    let run = build(&tree, &dir.join("nope.patch"), &dir.join("out"), &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nope.patch"), "{}", run.all());
}

#[test]
fn a_tree_that_is_not_mini_xen_gets_a_hint() {
    let dir = test_dir("not-mini-xen");
    let tree = dir.join("other");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("Makefile"), "all:\n\ttrue\n").unwrap();
    let run = build(&tree, &patch("lp-extraversion"), &dir.join("out"), &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("its Makefile does not build `mini-xen`; give a mini-xen source tree")
            && !run.stderr.contains("--xen-syms"),
        "{}",
        run.all()
    );
}

/// A second patch against the same tree takes the unmodified build from
/// the cache, and the payload is the one a build without the cache makes.
#[test]
fn second_patch_against_the_same_tree_uses_the_cached_build() {
    let dir = test_dir("cache");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let cache = dir.join("cache");
    let cache_arg = ["--cache-dir", cache.to_str().unwrap()];
    let first = build(
        &tree,
        &patch("lp-extraversion"),
        &dir.join("one"),
        &cache_arg,
    );
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(!first.stderr.contains("from the cache"), "{}", first.all());
    let second = build(
        &tree,
        &patch("xsa-write-word-align"),
        &dir.join("two"),
        &cache_arg,
    );
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        second.stderr.contains("taken from the cache"),
        "{}",
        second.all()
    );
    assert!(
        !second.stderr.contains("building the original tree"),
        "{}",
        second.all()
    );
    let fresh = build(
        &tree,
        &patch("xsa-write-word-align"),
        &dir.join("fresh"),
        &["--no-cache"],
    );
    assert_eq!(fresh.code, 0, "{}", fresh.all());
    let payload =
        |d: &str| std::fs::read(dir.join(d).join("xsa-write-word-align.livepatch")).unwrap();
    assert_eq!(payload("two"), payload("fresh"));
    // A changed tree is another key.
    let f = tree.join("common/version.c");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("\n/* touched */\n");
    std::fs::write(&f, text).unwrap();
    let third = build(
        &tree,
        &patch("xsa-write-word-align"),
        &dir.join("three"),
        &cache_arg,
    );
    assert_eq!(third.code, 0, "{}", third.all());
    assert!(!third.stderr.contains("from the cache"), "{}", third.all());
}
