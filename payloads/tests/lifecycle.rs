//! Payloads built by `livepatch-build` through their life in a booted
//! machine: re-applied after a revert, stacked, and replaced by a
//! cumulative payload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod driver_common;
mod machine_common;

use std::path::{Path, PathBuf};

use driver_common::*;
use emulator::hypercall::Guest;
use emulator::livepatch::{Action, STATE_APPLIED};
use emulator::Machine;
use machine_common::*;

const EXTRA_VERSION: &str =
    "const char *xen_extra_version(void)\n{\n    return XEN_EXTRAVERSION;\n}";

fn extraversion(m: &mut Machine, domid: u32) -> String {
    Guest::new(m, domid)
        .extraversion()
        .unwrap_or_else(|e| panic!("{e}\n{}", console(m)))
        .unwrap_or_else(|rc| panic!("extraversion: {rc}\n{}", console(m)))
}

/// Build `patch_file` on `tree` into `out`; exit 0 expected.
fn build_ok(tree: &Path, patch_file: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    // Signed with the development key, which the tree's images trust.
    let key = tree.join("keys/livepatch-dev.key");
    let mut args = vec!["--sign", key.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let run = build(tree, patch_file, out, &args);
    assert_eq!(run.code, 0, "{}", run.all());
    let name = patch_file
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    out.join(format!("{name}.livepatch"))
}

/// A payload whose only writable sections are `.livepatch.funcs` and its
/// hook pointer arrays has no state of its own: after a revert it is
/// applied again, and its hooks run again.
#[test]
fn hook_payload_is_reapplied_after_revert() {
    let dir = test_dir("reapply-hooks");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let p = dir.join("hooked.patch");
    make_patch(
        &tree,
        "common/version.c",
        EXTRA_VERSION,
        "#include <xen/livepatch_payload.h>\n\nstatic void hooked_load(void)\n{\n    printk(\"hooked: load\\n\");\n}\n\nstatic void hooked_unload(void)\n{\n    printk(\"hooked: unload\\n\");\n}\n\nLIVEPATCH_LOAD_HOOK(hooked_load);\nLIVEPATCH_UNLOAD_HOOK(hooked_unload);\n\nconst char *xen_extra_version(void)\n{\n    return XEN_EXTRAVERSION \"-hooked\";\n}",
        &p,
    );
    let out = dir.join("out");
    let payload = std::fs::read(build_ok(&tree, &p, &out, &[])).unwrap();
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(report.contains("hooks: load, unload"), "{report}");
    assert!(report.contains("re-apply after revert: yes"), "{report}");

    let mut m = boot(&load_image(&out.join(".build/orig/mini-xen")));
    let base = extraversion(&mut m, 1);
    apply(&mut m, "hooked", &payload);
    assert_eq!(extraversion(&mut m, 1), format!("{base}-hooked"));
    revert(&mut m, "hooked");
    assert_eq!(extraversion(&mut m, 1), base);
    act_ok(&mut m, "hooked", Action::Apply, STATE_APPLIED);
    assert_eq!(extraversion(&mut m, 1), format!("{base}-hooked"));
    let c = console(&m);
    assert_eq!(c.matches("hooked: load").count(), 2, "{c}");
    assert_eq!(c.matches("hooked: unload").count(), 1, "{c}");
}

/// What a guest sees of the two memory.c patches: unaligned write_word
/// (refused by xsa-write-word-align) and unknown memory_op sub-ops
/// (logged by memory-op-probe-log), with the console lines they print.
fn memory_ops(m: &mut Machine) -> Vec<String> {
    let mut log = Vec::new();
    for off in [0x1_0000u64, 0x1_0003, 0x1_0008] {
        let r = Guest::new(m, 1)
            .write_word(off, 7, None)
            .unwrap_or_else(|e| panic!("{e}"));
        log.push(format!("write_word({off:#x}) -> {r}"));
    }
    let from = m.console().len();
    for (d, cmd) in [(1u32, 99u64), (2, 98), (1, 97), (1, 96), (2, 95)] {
        let r = Guest::new(m, d)
            .call(emulator::hypercall::nr::MEMORY_OP, [cmd, 0, 0, 0, 0], &[])
            .unwrap_or_else(|e| panic!("{e}"))
            .0;
        log.push(format!("d{d} memory_op({cmd}) -> {r}"));
    }
    log.extend(
        String::from_utf8_lossy(&m.console()[from..])
            .lines()
            .map(|l| format!("    {l}")),
    );
    log
}

/// Two payloads on one stack, both replacing do_memory_op(). Built from
/// the base source the upper one would undo the lower fix: refused, naming
/// the function. Built on the stack (--base-patch) it keeps the lower fix:
/// the machine with both applied behaves as the source with both patches.
#[test]
fn stacked_payload_keeps_the_lower_fix() {
    let dir = test_dir("stack");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let (lower_patch, upper_patch) = (patch("xsa-write-word-align"), patch("memory-op-probe-log"));
    let out_l = dir.join("lower");
    let lower = build_ok(&tree, &lower_patch, &out_l, &[]);
    let lower_arg = lower.to_str().unwrap();

    let run = build(
        &tree,
        &upper_patch,
        &dir.join("naive"),
        &["--depends-payload", lower_arg],
    );
    assert_eq!(run.code, 2, "{}", run.all());
    assert!(
        run.stderr
            .contains("`do_memory_op` (common/memory.o) is already replaced by the lower payload")
            && run
                .stdout
                .contains("REFUSED memory-op-probe-log: `do_memory_op`"),
        "{}",
        run.all()
    );
    assert!(!dir.join("naive/memory-op-probe-log.livepatch").exists());

    let out_u = dir.join("upper");
    let upper = build_ok(
        &tree,
        &upper_patch,
        &out_u,
        &[
            "--depends-payload",
            lower_arg,
            "--base-patch",
            lower_patch.to_str().unwrap(),
        ],
    );
    let report = std::fs::read_to_string(out_u.join("report.txt")).unwrap();
    assert!(report.contains("stacked on:"), "{report}");

    let base = load_image(&out_l.join(".build/orig/mini-xen"));
    let mut live = boot(&base);
    apply(&mut live, "lower", &std::fs::read(&lower).unwrap());
    apply(&mut live, "upper", &std::fs::read(&upper).unwrap());
    let stacked = memory_ops(&mut live);
    let from_source = memory_ops(&mut boot(&load_image(
        &out_u.join(".build/patched/mini-xen"),
    )));
    assert_eq!(
        stacked,
        from_source,
        "live:\n{}\nsource:\n{}",
        stacked.join("\n"),
        from_source.join("\n")
    );
    let unpatched = memory_ops(&mut boot(&base));
    assert_ne!(stacked, unpatched);
    // LIFO: the upper payload goes first. The hypervisor's `reported`
    // counter was used (not copied) by the payload, so the console differs;
    // the results are the original's.
    revert(&mut live, "upper");
    revert(&mut live, "lower");
    let results = |log: Vec<String>| -> Vec<String> {
        log.into_iter().filter(|l| !l.starts_with(' ')).collect()
    };
    assert_eq!(results(memory_ops(&mut live)), results(unpatched));
}

/// What a guest sees of console-io-limit and lp-extraversion.
fn console_and_version(m: &mut Machine) -> Vec<String> {
    let mut log = vec![format!("extraversion {}", extraversion(m, 1))];
    for count in [16u64, 4096, 4097] {
        let at = emulator::hypercall::mailbox_buf(2);
        let r = Guest::new(m, 2)
            .call(
                emulator::hypercall::nr::CONSOLE_IO,
                [emulator::hypercall::CONSOLEIO_WRITE, count, at, 0, 0],
                &[b'x'; 16],
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .0;
        log.push(format!("console_io({count}) -> {r}"));
    }
    log
}

/// A cumulative payload, built from the base source with every fix of the
/// stack, defines again the new function the payload it replaces added
/// (guest_console_count_ok()). It uploads while that payload is loaded
/// (Xen refuses: duplicate new symbol) and REPLACEs it.
#[test]
fn cumulative_payload_replaces_a_stack_sharing_a_new_function() {
    let dir = test_dir("cumulative");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let out_l = dir.join("lower");
    let lower = build_ok(&tree, &patch("xsa-console-io-limit"), &out_l, &[]);
    let cumulative_patch = dir.join("cumulative.patch");
    let mut text = std::fs::read(patch("xsa-console-io-limit")).unwrap();
    text.extend(std::fs::read(patch("lp-extraversion")).unwrap());
    std::fs::write(&cumulative_patch, text).unwrap();
    let out_c = dir.join("cumulative");
    let cumulative = build_ok(&tree, &cumulative_patch, &out_c, &[]);

    let base = load_image(&out_l.join(".build/orig/mini-xen"));
    let mut m = boot(&base);
    apply(&mut m, "lower", &std::fs::read(&lower).unwrap());
    let rc = upload(&mut m, "cumulative", &std::fs::read(&cumulative).unwrap());
    assert_eq!(rc, 0, "{}", console(&m));
    assert!(
        console(&m).contains(
            "cumulative: new symbol guest_console_count_ok is also exported by a loaded payload"
        ),
        "{}",
        console(&m)
    );
    act_ok(&mut m, "cumulative", Action::Replace, STATE_APPLIED);
    let st = emulator::livepatch::Client::new(&mut m)
        .get("lower")
        .unwrap();
    assert_eq!(st.map(|s| s.state), Ok(emulator::livepatch::STATE_CHECKED));
    let live = console_and_version(&mut m);
    let from_source = console_and_version(&mut boot(&load_image(
        &out_c.join(".build/patched/mini-xen"),
    )));
    assert_eq!(live, from_source);
    assert_ne!(live, console_and_version(&mut boot(&base)));
    // The replaced payload can go; the cumulative one stays applied.
    let (rc, _) = act(&mut m, "lower", Action::Unload);
    assert_eq!(rc, 0, "{}", console(&m));
    assert_eq!(console_and_version(&mut m), from_source);
}
