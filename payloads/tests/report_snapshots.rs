//! Snapshot tests of the human-readable report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{build, diff};

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../../snapshots/payloads",
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn report_changed_function_and_new_static() {
    let pair = build(
        "snap_changed",
        "int printk(const char *fmt, ...);\nint calc(int a, int b) { return a * b + 100; }\nint log_it(int x) { return printk(\"value %d\\n\", x) + x; }\n",
        "int printk(const char *fmt, ...);\nstatic int calls;\nint calc(int a, int b) { calls++; return a * b + 101; }\nint log_it(int x) { return printk(\"value is %d\\n\", x) + x; }\nint calls_so_far(void) { return calls; }\n",
    );
    let out = diff(&pair).unwrap();
    snapshot(
        "report_changed_function_and_new_static",
        &out.report.to_text().unwrap(),
    );
}

#[test]
fn report_renumbered_static_local() {
    let pair = build(
        "snap_renumbered",
        "int counter_fn(int d) { static int count; count += d; return count * 3; }\nint keep(int d) { static int count; count += d + 1; return count; }\n",
        "int counter_fn(int d) { static int count; count += d; return count * 5; }\nint keep(int d) { static int count; count += d + 1; return count; }\nint last(int d) { static int count; count -= d; return count; }\n",
    );
    let out = diff(&pair).unwrap();
    snapshot(
        "report_renumbered_static_local",
        &out.report.to_text().unwrap(),
    );
}

#[test]
fn report_refused_changed_data() {
    let pair = build(
        "snap_refused",
        "int limits[2] = {10, 20};\nint lim(int i) { return limits[i & 1] * 3 + 1; }\n",
        "int limits[2] = {10, 30};\nint lim(int i) { return limits[i & 1] * 3 + 1; }\n",
    );
    let err = diff(&pair).unwrap_err();
    let payloads::DiffError::Unpatchable { report, .. } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(err.exit_code(), 2);
    snapshot("report_refused_changed_data", &report.to_text().unwrap());
}
