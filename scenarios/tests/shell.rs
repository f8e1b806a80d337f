//! `testbed shell` sessions: the commands' messages and exit statuses as
//! the original tools print them.

mod common;

use common::payload_path;
use scenarios::machine::{default_image, load_image, Boot, Testbed};
use scenarios::shell::Shell;

/// mini-xen on `vcpus` vCPUs, seed 1, booted for 5 ms.
fn booted(vcpus: u16) -> Testbed {
    let image = load_image(&default_image()).expect("run `make image` first");
    let boot = Boot {
        vcpus,
        seed: 1,
        busy: false,
        cmdline: String::new(),
    };
    let mut tb = Testbed::new(image, &boot).expect("machine");
    tb.run_for(5_000_000).expect("boot");
    tb
}

fn transcript(vcpus: u16, script: &str) -> (String, i32) {
    let mut sh = Shell::new(booted(vcpus), Vec::new());
    let mut last = 0;
    for line in script.lines() {
        sh.output()
            .extend_from_slice(format!("$ {line}\n").as_bytes());
        match sh.exec_line(line) {
            Ok(Some(o)) => {
                last = o.status;
                if o.status != 0 {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let out = String::from_utf8_lossy(sh.output()).into_owned();
    (out, last)
}

fn snapshot(name: &str, text: &str) {
    let stable: String = text
        .lines()
        .map(common::redact_hex)
        .collect::<Vec<_>>()
        .join("\n");
    insta::with_settings!({snapshot_path => "../../snapshots/scenarios"}, {
        insta::assert_snapshot!(name, stable);
    });
}

#[test]
fn xen_livepatch_session_transcript() {
    let dir = payload_path("x");
    let dir = dir.parent().expect("dir").display().to_string();
    let script = format!(
        "guest 1 xen_version extraversion\n\
         xen-livepatch list\n\
         xen-livepatch load {dir}/xen_hello_world.livepatch\n\
         guest 1 xen_version extraversion\n\
         xen-livepatch load {dir}/xen_bye_world.livepatch\n\
         xen-livepatch list\n\
         xen-livepatch revert xen_hello_world"
    );
    let (out, code) = transcript(4, &script);
    assert_eq!(code, 2, "revert under bye is busy:\n{out}");
    snapshot("livepatch_session", &out.replace(&dir, "<payloads>"));
}

#[test]
fn wrong_state_and_missing_payload_messages() {
    let (out, code) = transcript(1, "xen-livepatch apply nothing_here");
    assert_eq!(code, 1);
    assert!(
        out.contains("Failed to get status of nothing_here."),
        "{out}"
    );
    assert!(out.contains("Error 2: No such file or directory"), "{out}");
}

#[test]
fn debug_key_x_dumps_payloads() {
    let (out, code) = transcript(
        2,
        &format!(
            "xen-livepatch load {}\nxl debug-keys x\nxl dmesg -c",
            payload_path("xen_hello_world").display()
        ),
    );
    assert_eq!(code, 0, "{out}");
    for needle in [
        "build-id:",
        "name=xen_hello_world state=APPLIED",
        "xen_extra_version patch",
        "depend-on=",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
}

#[test]
fn a_name_the_abi_cannot_carry_is_refused_by_the_cli() {
    let long = "x".repeat(128);
    let (out, code) = transcript(1, &format!("xen-livepatch apply {long}"));
    assert_eq!(code, 1);
    assert!(out.contains("must be 1 to 127 bytes"), "{out}");
}

#[test]
fn raw_hypercalls_long_names_and_a_crashed_domain() {
    let hello = payload_path("xen_hello_world");
    let long = "a_payload_name_much_longer_than_forty_bytes_to_align";
    let mut sh = Shell::new(booted(2), Vec::new());
    let mut run = |line: &str| {
        let o = sh.exec_line(line).expect("runs").expect("not quit");
        (o, String::from_utf8_lossy(sh.output()).into_owned())
    };
    // xen_version(XENVER_extraversion, buf) returns the string in the buffer.
    let (o, out) = run("hypercall 1 17 1 buf");
    assert_eq!(o.status, 0);
    assert!(
        out.contains("d1: hypercall 17: rc=0\nd1: buf: 2d6d696e6900"),
        "{out}"
    );
    let (o, out) = run("hypercall 1 99");
    assert_eq!((o.status, o.errno), (1, Some(38)));
    assert!(out.contains("rc=-38 (Function not implemented)"), "{out}");
    // Columns stay aligned for a name longer than the original's 40.
    let (o, out) = run(&format!("xen-livepatch upload {long} {}", hello.display()));
    assert_eq!(o.status, 0, "{out}");
    let (_, out) = run("xen-livepatch list");
    let table: Vec<&str> = out.lines().rev().take(3).collect();
    let bar = |l: &str| l.find('|').expect("a column");
    assert_eq!(bar(table[0]), bar(table[2]), "{out}");
    assert_eq!(table[1].find('+'), Some(bar(table[2])), "{out}");
    // A guest load from nowhere faults in ring 3: the domain is crashed,
    // the hypervisor goes on, and the shell says so.
    let (o, out) = run("hypercall 2 0x10000 0xdead0000");
    assert_eq!(o.status, 1);
    assert!(out.contains("the hypervisor crashed domain 2"), "{out}");
    let (o, _) = run("guest 1 xen_version version");
    assert_eq!(o.status, 0);
}

#[test]
fn keep_going_runs_every_command_and_exits_with_the_worst_status() {
    let script = common::write(
        &common::tmp("shell-keep-going"),
        "s.txt",
        "xen-livepatch apply nothing_loaded\nhypercall 1 99\nguest 1 xen_version version\n",
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["shell", "--vcpus", "1", "--seed", "1", "--script", &script];
        args.extend_from_slice(extra);
        let o = common::testbed(&args);
        (o.status.code(), common::stdout(&o))
    };
    let (code, out) = run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(!out.contains("d1: xen_version version"), "{out}");
    let (code, out) = run(&["--keep-going"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("d1: hypercall 99: rc=-38"), "{out}");
    assert!(out.contains("d1: xen_version version: 4.21"), "{out}");
}
