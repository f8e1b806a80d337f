//! The `testbed` command line: exit statuses, output shape, and a snapshot
//! of a boot console.

mod common;

use std::process::{Command, Output};

use common::{testbed, tmp};

/// `testbed boot --vcpus 1 --seed 1 EXTRA...`.
fn boot1(extra: &[&str]) -> Output {
    let mut args = vec!["boot", "--vcpus", "1", "--seed", "1"];
    args.extend_from_slice(extra);
    testbed(&args)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn zero_or_65_vcpus_is_a_usage_error() {
    for n in ["0", "65"] {
        let o = testbed(&["boot", "--vcpus", n, "--seed", "1"]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("--vcpus"), "{err}");
    }
}

#[test]
fn unknown_debug_key_is_a_usage_error() {
    let o = boot1(&["--keys", "hq"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("unknown debug key 'q'"), "{err}");
}

#[test]
fn bad_duration_is_a_usage_error() {
    let o = boot1(&["--time", "5 parsecs"]);
    assert_eq!(o.status.code(), Some(2));
    // ~585 years of virtual time is refused, not run.
    let o = boot1(&["--time", "18446744073709551615ns"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("at most 1h of virtual time"), "{err}");
}

#[test]
fn an_unknown_key_is_refused_alike_by_boot_and_by_xl() {
    let o = boot1(&["--keys", "Q"]);
    let (_, boot_err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    let why = boot_err
        .strip_prefix("testbed: ")
        .expect("testbed's message")
        .trim_end()
        .to_string();
    // Every key the image registers is listed.
    for k in ["C (", "h (", "n (", "x ("] {
        assert!(why.contains(k), "{why}");
    }
    let dir = tmp("cli-keys");
    let script = dir.join("keys.txt");
    std::fs::write(&script, "xl debug-keys Q\n").expect("script");
    let o = testbed(&[
        "shell",
        "--vcpus",
        "1",
        "--seed",
        "1",
        "--script",
        &script.display().to_string(),
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.contains(&format!("xl: {why}")), "{out}");
}

#[test]
fn a_truncated_image_is_refused_at_load() {
    let dir = tmp("cli-truncated");
    let elf = dir.join("mini-xen");
    let src = scenarios::machine::default_image();
    std::fs::copy(&src, &elf).expect("copy elf");
    let mut bin = std::fs::read(src.with_extension("bin")).expect("flat image");
    bin.truncate(bin.len() / 2);
    std::fs::write(dir.join("mini-xen.bin"), bin).expect("write");
    let o = boot1(&["--image", &elf.display().to_string()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn missing_image_is_a_clear_error() {
    let o = boot1(&["--image", "/nonexistent/xen"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("/nonexistent/xen"), "{err}");
}

#[test]
fn a_boot_ends_with_the_digest() {
    let o = testbed(&["boot", "--vcpus", "2", "--seed", "9", "--time", "5ms"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let last = out.lines().last().unwrap_or_default();
    let hex = last
        .strip_prefix("digest: ")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(hex.len(), 64);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn crash_key_exits_3_with_a_report() {
    let o = testbed(&[
        "boot", "--vcpus", "2", "--seed", "1", "--time", "2ms", "--keys", "C",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("Call trace"), "{out}");
    assert!(out.contains("=> "), "{out}");
    assert!(!out.contains("digest: "), "{out}");
}

/// Replaces what changes with every build (build-id, digest, addresses).
fn stable(console: &str) -> String {
    console
        .lines()
        .map(|l| {
            if let Some((head, _)) = l.split_once("build-id: ") {
                return format!("{head}build-id: <build-id>");
            }
            if l.starts_with("digest: ") {
                return "digest: <digest>".to_string();
            }
            common::redact_hex(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn boot_console_snapshot() {
    let o = testbed(&[
        "boot", "--vcpus", "2", "--seed", "1", "--time", "3ms", "--keys", "h",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    insta::with_settings!({snapshot_path => "../../snapshots/scenarios"}, {
        insta::assert_snapshot!("boot_2_vcpus_seed_1", stable(&out));
    });
}

#[test]
fn two_processes_with_the_same_seed_print_the_same_run() {
    let args = [
        "boot", "--vcpus", "4", "--seed", "11", "--time", "10ms", "--keys", "d",
    ];
    let a = testbed(&args);
    let b = testbed(&args);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn shell_reads_stdin_and_exits_with_the_failing_commands_status() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args(["shell", "--vcpus", "2", "--seed", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("testbed runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            b"guest 1 xen_version version\nguest 1 sysctl physinfo\nguest 1 xen_version version\n",
        )
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "d1: xen_version version: 4.21",
            "d1: sysctl physinfo: rc=-1",
        ]
    );
}

#[test]
fn boot_and_shell_pass_the_hypervisor_command_line() {
    let o = testbed(&[
        "boot",
        "--vcpus",
        "2",
        "--seed",
        "1",
        "--time",
        "3ms",
        "--cmdline",
        "maxcpus=1 bogus",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("Command line: maxcpus=1 bogus"), "{out}");
    assert!(out.contains("unknown option \"bogus\" ignored"), "{out}");
    assert!(out.contains("Brought up 1 CPUs"), "{out}");

    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .args([
            "shell",
            "--vcpus",
            "2",
            "--seed",
            "1",
            "--cmdline",
            "maxcpus=1",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("testbed runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"guest 0 sysctl physinfo\n")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("d0: sysctl physinfo: nr_cpus=1 "), "{out}");
}
