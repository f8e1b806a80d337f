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
    let run = build(tree, patch_file, out, extra);
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
