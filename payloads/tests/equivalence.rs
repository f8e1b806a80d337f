//! Equivalence: for every shipped patch, the same guest hypercalls give the
//! same results on
//!   (a) the original mini-xen with the payload uploaded and applied, and
//!   (b) mini-xen built from the patched source,
//! and (as a check that the hypercalls exercise the change) different
//! results on (c) the original mini-xen without the payload.
//!
//! Both images come from the `livepatch-build` run (`OUTPUT/.build/orig`
//! and `OUTPUT/.build/patched`), on a private copy of the tree; the same
//! run gives the report snapshot of the patch. Results
//! are hypercall return values, the bytes a hypercall writes back, and the
//! console lines a step prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod driver_common;
mod machine_common;

use driver_common::*;
use emulator::hypercall::{
    nr, Guest, CONSOLEIO_WRITE, XENVER_BUILD_ID, XEN_SYSCTL_INTERFACE_VERSION,
};
use emulator::livepatch::{Action, STATE_APPLIED};
use emulator::platform::domain_window;
use emulator::{Image, Irq, Machine};
use machine_common::*;

struct Built {
    name: &'static str,
    orig: Image,
    patched: Image,
    payload: Vec<u8>,
}

/// The report snapshot of each shipped patch (taken here, so that every
/// patch is built once for both checks).
const SNAPSHOTS: [(&str, &str); 8] = [
    ("xsa-write-word-align", "a_missing_bounds_check"),
    ("xsa-console-io-limit", "b_new_helper_function"),
    ("lp-extraversion", "c_changed_string_literal"),
    ("memory-op-probe-log", "d_static_local"),
    ("xenver-build-id-len", "e_inlined_helper"),
    ("xsa-evtchn-port0-shadow", "f_shadow_state_with_hooks"),
    ("nmi-stats-totals", "g_nmi_statistics_path"),
    ("xsa-sysctl-dispatch-priv", "h_function_pointer_table"),
];

/// Build a shipped patch on a private copy: exit 0, the tree unchanged,
/// a payload, `report.txt` equal to the report printed, and the report's
/// snapshot.
fn build_patch(name: &'static str) -> Built {
    let dir = test_dir(&format!("equiv-{name}"));
    let tree = copy_tree(&dir, Codegen::AsIs);
    let before = checksum(&tree);
    let out = dir.join("out");
    // Signed with the development key, which the tree's images trust.
    let key = tree.join("keys/livepatch-dev.key");
    let run = build(
        &tree,
        &patch(name),
        &out,
        &["--sign", key.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(checksum(&tree), before, "the tree changed");
    let on_disk = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert_eq!(on_disk, run.stdout, "report.txt differs from stdout");
    let (_, snap) = SNAPSHOTS
        .iter()
        .find(|(p, _)| *p == name)
        .unwrap_or_else(|| panic!("{name} has no report snapshot"));
    snapshot(
        &format!("livepatch_build_{snap}"),
        &stable(&redact(&run.stdout, &[&dir])),
    );
    let payload_bytes = std::fs::read(out.join(format!("{name}.livepatch"))).unwrap();
    assert_eq!(&payload_bytes[..4], b"\x7fELF");
    Built {
        name,
        orig: load_image(&out.join(".build/orig/mini-xen")),
        patched: load_image(&out.join(".build/patched/mini-xen")),
        payload: payload_bytes,
    }
}

/// Records what each step returns and prints.
struct Obs<'m> {
    m: &'m mut Machine,
    log: Vec<String>,
}

impl Obs<'_> {
    fn step<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Machine) -> Result<T, emulator::MachineError>,
    ) {
        let from = self.m.console().len();
        let r = match f(self.m) {
            Ok(v) => format!("{v:?}"),
            Err(e) => panic!("{what}: {e}\n{}", console(self.m)),
        };
        let printed: Vec<String> = String::from_utf8_lossy(&self.m.console()[from..])
            .lines()
            .map(str::to_string)
            .collect();
        self.log.push(format!("{what} -> {r}"));
        self.log
            .extend(printed.into_iter().map(|l| format!("    {l}")));
    }
}

type Script = fn(&mut Obs<'_>);

fn observe(m: &mut Machine, script: Script) -> Vec<String> {
    let mut o = Obs { m, log: Vec::new() };
    script(&mut o);
    o.log
}

/// (a) == (b) != (c), then the payload reverts cleanly.
fn check(name: &'static str, script: Script) {
    check_live(name, script);
}

/// As [`check`], then the reverted payload is applied again (it has no
/// writable data of its own) and still matches the patched source.
fn check_reapply(name: &'static str, script: Script) {
    let (mut live, from_source) = check_live(name, script);
    act_ok(&mut live, name, Action::Apply, STATE_APPLIED);
    assert_eq!(observe(&mut live, script), from_source, "{name} re-applied");
}

/// (a) == (b) != (c) and a clean revert; returns the machine (payload
/// reverted) and what the patched source gave.
fn check_live(name: &'static str, script: Script) -> (Machine, Vec<String>) {
    let b = build_patch(name);
    assert_eq!(b.name, name);
    let mut live = boot(&b.orig);
    apply(&mut live, name, &b.payload);
    let with_payload = observe(&mut live, script);
    let from_source = observe(&mut boot(&b.patched), script);
    let unpatched = observe(&mut boot(&b.orig), script);
    if std::env::var_os("EQUIVALENCE_SHOW").is_some() {
        eprintln!(
            "== {name}, live-patched:\n{}\n== unpatched:\n{}",
            with_payload.join("\n"),
            unpatched.join("\n")
        );
    }
    assert_eq!(
        with_payload,
        from_source,
        "{name}: the live-patched hypervisor and the one built from the patched source differ\n\
         live-patched:\n{}\nfrom source:\n{}",
        with_payload.join("\n"),
        from_source.join("\n")
    );
    assert_ne!(
        from_source,
        unpatched,
        "{name}: the script does not observe the change:\n{}",
        unpatched.join("\n")
    );
    revert(&mut live, name);
    (live, from_source)
}

fn write_words(o: &mut Obs<'_>) {
    // Away from the guest's stacks at the top of its window; the last one
    // is out of range in every build.
    for off in [
        0x1_0000u64,
        0x1_0003,
        0x1_0008,
        0x1_000c,
        0x1_0ffd,
        0x1f_f001,
    ] {
        o.step(&format!("d1 write_word({off:#x})"), |m| {
            Guest::new(m, 1).write_word(off, 0x1122_3344_5566_7788, None)
        });
    }
}

#[test]
fn a_write_word_alignment() {
    check("xsa-write-word-align", write_words);
}

fn console_writes(o: &mut Obs<'_>) {
    o.step("d1 console_write(short)", |m| {
        Guest::new(m, 1).console_write("short line\n")
    });
    for count in [4096u64, 4097, 100_000] {
        o.step(&format!("d2 console_io(write, {count})"), |m| {
            // The text lies in d2's window, past its mailbox.
            let at = domain_window(2) + 0x8000;
            let text: Vec<u8> = (0..count.min(0x10000))
                .map(|i| {
                    if i % 64 == 63 {
                        b'\n'
                    } else {
                        b'a' + (i % 26) as u8
                    }
                })
                .collect();
            m.host_write(at, &text)?;
            // Past the text (100000 bytes) the window holds zeros, which
            // the console drops.
            Guest::new(m, 2)
                .call(nr::CONSOLE_IO, [CONSOLEIO_WRITE, count, at, 0, 0], &[])
                .map(|r| r.0)
        });
    }
}

#[test]
fn b_console_io_limit() {
    check("xsa-console-io-limit", console_writes);
}

fn extraversions(o: &mut Obs<'_>) {
    for d in 0..3 {
        o.step(&format!("d{d} extraversion"), |m| {
            Guest::new(m, d).extraversion()
        });
    }
}

#[test]
fn c_extraversion_string() {
    check("lp-extraversion", extraversions);
}

fn memory_op_probes(o: &mut Obs<'_>) {
    for (d, cmd) in [(1u32, 5u64), (1, 99), (2, 0), (1, 5), (2, 7), (1, 1000)] {
        o.step(&format!("d{d} memory_op({cmd})"), |m| {
            Guest::new(m, d)
                .call(nr::MEMORY_OP, [cmd, 0, 0, 0, 0], &[])
                .map(|r| r.0)
        });
    }
    o.step("d1 write_word(8)", |m| {
        Guest::new(m, 1).write_word(8, 1, None)
    });
}

#[test]
fn d_memory_op_static_local() {
    check("memory-op-probe-log", memory_op_probes);
}

fn build_id_sizes(o: &mut Obs<'_>) {
    for len in [0u32, 4, 19, 20, 64] {
        o.step(&format!("d0 build_id(len {len})"), |m| {
            let buf = emulator::hypercall::mailbox_buf(0);
            let mut arg = vec![0u8; 4 + 64];
            arg[..4].copy_from_slice(&len.to_le_bytes());
            let (r, out) =
                Guest::new(m, 0).call(nr::XEN_VERSION, [XENVER_BUILD_ID, buf, 0, 0, 0], &arg)?;
            // The id itself differs between the two images (it is the
            // build-id of each); compare the result and the length field.
            let mut l = [0u8; 4];
            l.copy_from_slice(&out[..4]);
            Ok((r, u32::from_le_bytes(l)))
        });
    }
}

#[test]
fn e_build_id_inlined_helper() {
    check("xenver-build-id-len", build_id_sizes);
}

fn reserved_port_sends(o: &mut Obs<'_>) {
    for (d, port) in [
        (1u32, 0u32),
        (1, 0),
        (2, 0),
        (1, 0),
        (1, 0),
        (1, 2),
        (2, 0),
        (1, 0),
        (1, 9),
    ] {
        o.step(&format!("d{d} evtchn_send({port})"), |m| {
            Guest::new(m, d).evtchn_send(port)
        });
    }
}

#[test]
fn f_evtchn_shadow_state() {
    check("xsa-evtchn-port0-shadow", reserved_port_sends);
}

fn nmi_stats(o: &mut Obs<'_>) {
    // CPU1 sees none: the fixed dump leaves it out.
    o.step("3 NMIs on CPU0, key n", |m| {
        for _ in 0..3 {
            m.inject_now(0, Irq::Nmi)?;
            m.run_for(MS / 10)?;
        }
        m.run_for(MS)?;
        m.send_input(b"n");
        m.run_for(5 * MS)
    });
}

#[test]
fn g_nmi_statistics() {
    check("nmi-stats-totals", nmi_stats);
}

fn sysctl_callers(o: &mut Obs<'_>) {
    for d in 0..3u32 {
        o.step(&format!("d{d} physinfo"), |m| {
            Guest::new(m, d).physinfo().map(|r| r.map(|p| p.nr_cpus))
        });
        o.step(&format!("d{d} physinfo(wrong interface version)"), |m| {
            Guest::new(m, d)
                .physinfo_with_version(XEN_SYSCTL_INTERFACE_VERSION + 1)
                .map(|r| r.map(|p| p.nr_cpus))
        });
        o.step(&format!("d{d} sysctl(unmapped buffer)"), |m| {
            Guest::new(m, d)
                .call(nr::SYSCTL, [0xdead_0000_0000, 0, 0, 0, 0], &[])
                .map(|r| r.0)
        });
    }
}

#[test]
fn h_function_pointer_table() {
    check_reapply("xsa-sysctl-dispatch-priv", sysctl_callers);
}
