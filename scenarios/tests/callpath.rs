//! `testbed callpath`: the patched call paths cost exactly the patch
//! site's `jmp` plus what the replacement itself does differently, and
//! the table of counts is stable (instruction counts are deterministic).

mod common;

use std::process::Command;

use scenarios::callpath::{self, Compared, Options};
use scenarios::machine::{default_image, load_image};

fn measure(vcpus: u16, calls: u64) -> Vec<Compared> {
    let image = load_image(&default_image()).expect("run `make image` first");
    let opts = Options {
        vcpus,
        calls,
        payloads: common::root().join("payloads/build"),
    };
    callpath::run(&image, &opts).expect("run `make build` and `make patch-payloads` first")
}

fn patched(c: &Compared) -> bool {
    !matches!(c.row.state.as_str(), "unpatched" | "reverted") && !c.row.state.starts_with("NOP")
}

#[test]
fn every_patched_call_pays_one_jmp_and_the_table_is_stable() {
    let rows = measure(1, 64);
    for c in &rows {
        let r = &c.row;
        let what = format!("{} {}: {}", r.path, r.state, callpath::explain(c));
        assert!(r.exact, "{what}: calls differ");
        assert_eq!(r.dropped, 0, "{what}");
        // Every instruction is accounted for.
        let elsewhere: f64 = c.elsewhere_delta.iter().map(|(_, d)| d).sum();
        assert_eq!(
            c.delta,
            r.jmp + (r.body - c.body_before) + elsewhere,
            "{what}"
        );
        if patched(c) {
            assert_eq!(r.jmp, 1.0, "{what}");
        } else {
            assert_eq!(r.jmp, 0.0, "{what}");
        }
        if matches!(r.state.as_str(), "unpatched" | "reverted") {
            assert_eq!(c.delta, 0.0, "{what}");
        }
        // The leaf's replacements run the same instructions as the
        // original: the jmp is all a patched call costs.
        if r.function == "callpath_leaf" && patched(c) {
            assert_eq!(c.delta, 1.0, "{what}");
            assert!(c.elsewhere_delta.is_empty(), "{what}");
        }
    }
    // The replacements ran: each answers its own value (3x + k, x = 7).
    let leaf: Vec<i64> = rows
        .iter()
        .filter(|c| c.row.function == "callpath_leaf" && !c.row.state.starts_with("NOP"))
        .map(|c| c.row.rc)
        .collect();
    assert_eq!(leaf, [22, 23, 24, 25, 22]);
    insta::with_settings!({snapshot_path => "../../snapshots/scenarios"}, {
        insta::assert_snapshot!("callpath_table", callpath::table(&rows));
    });
}

#[test]
fn the_counts_do_not_depend_on_the_vcpu_count() {
    let one = measure(1, 16);
    let four = measure(4, 16);
    let counts = |rows: &[Compared]| -> Vec<(String, f64)> {
        rows.iter()
            .map(|c| (format!("{} {}", c.row.path, c.row.state), c.row.insns))
            .collect()
    };
    assert_eq!(counts(&one), counts(&four));
}

#[test]
fn the_command_prints_json_and_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["callpath", "--calls", "4", "--json"])
        .output()
        .expect("testbed runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = v.as_array().expect("an array of rows");
    assert!(rows
        .iter()
        .any(|r| r["state"] == "same-size (xen_callpath_same)"
            && r["delta"] == 1.0
            && r["jmp"] == 1.0));
}
