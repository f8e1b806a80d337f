//! Signed payloads: the Rust side signs (`livepatch-sign`, `livepatch-build
//! --sign`, the test payloads of `make build`) and mini-xen trusts the
//! key built into it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod driver_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use abi::livepatch::{SignatureNote, SIG_NOTE_SIZE, SIG_OFFSET};
use driver_common::*;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use emulator::hypercall::{errno, Guest};
use emulator::livepatch::{Action, Client, Status, STATE_APPLIED};
use emulator::{Config, Image, Machine};
use payloads::sign;

const MS: u64 = 1_000_000;

fn dev_key_prefix() -> PathBuf {
    mini_xen().join("keys/livepatch-dev")
}

fn dev_signing_key() -> SigningKey {
    sign::read_signing_key(&sign::key_pair_paths(&dev_key_prefix()).0).expect("dev key")
}

fn dev_public_key() -> VerifyingKey {
    sign::read_verifying_key(&sign::key_pair_paths(&dev_key_prefix()).1).expect("dev pub")
}

fn test_payloads() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/test");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "livepatch"))
        .collect();
    v.sort();
    v
}

/// Checks `payload`'s note with ed25519-dalek: signed by `key`.
fn signed_by(payload: &[u8], key: &VerifyingKey) -> bool {
    let Some(note) = SignatureNote::find(payload) else {
        return false;
    };
    let msg = &payload[..payload.len() - SIG_NOTE_SIZE + SIG_OFFSET];
    note.key_id == sign::key_id(key)
        && key
            .verify_strict(msg, &Signature::from_bytes(&note.signature))
            .is_ok()
}

#[test]
fn the_development_key_pair_matches() {
    assert_eq!(dev_signing_key().verifying_key(), dev_public_key());
}

#[test]
fn every_test_payload_is_signed_with_the_development_key() {
    let all = test_payloads();
    assert!(all.len() >= 16, "{all:?}");
    for p in all {
        let bytes = std::fs::read(&p).unwrap();
        assert!(signed_by(&bytes, &dev_public_key()), "{}", p.display());
        // The ELF part is what the linker wrote: the note comes after it.
        assert_eq!(&sign::unsigned_part(&bytes)[..4], b"\x7fELF");
    }
}

#[test]
fn mini_xen_names_the_key_it_trusts_at_boot() {
    let image = Image::load(&Image::default_path()).expect("run `make image` first");
    let mut m = Machine::new(image, Config::new(1, 1)).expect("machine");
    m.run_for(5 * MS).expect("boot");
    let console = String::from_utf8_lossy(m.console()).into_owned();
    let line = format!(
        "livepatch: payload signatures: enforce, key livepatch-dev.pub, key id {} (Ed25519)",
        sign::hex(&sign::key_id(&dev_public_key()))
    );
    assert!(console.contains(&line), "{console}");
}

fn livepatch_sign() -> Command {
    Command::new(env!("CARGO_BIN_EXE_livepatch-sign"))
}

#[test]
fn livepatch_sign_signs_in_place_and_replaces_an_old_signature() {
    let dir = test_dir("livepatch-sign");
    let file = dir.join("p.livepatch");
    let original = sign::unsigned_part(&std::fs::read(&test_payloads()[0]).unwrap()).to_vec();
    std::fs::write(&file, &original).unwrap();
    let other = dir.join("other");
    let st = livepatch_sign()
        .arg("--new-key")
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let (other_key, other_pub) = sign::key_pair_paths(&other);
    let other_pub = sign::read_verifying_key(&other_pub).unwrap();

    let st = livepatch_sign()
        .arg("--key")
        .arg(&other_key)
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let once = std::fs::read(&file).unwrap();
    assert_eq!(once.len(), original.len() + SIG_NOTE_SIZE);
    assert!(signed_by(&once, &other_pub));
    assert!(!signed_by(&once, &dev_public_key()));

    let st = livepatch_sign()
        .arg("-k")
        .arg(sign::key_pair_paths(&dev_key_prefix()).0)
        .arg(&file)
        .status()
        .unwrap();
    assert!(st.success());
    let twice = std::fs::read(&file).unwrap();
    assert_eq!(twice.len(), once.len());
    assert!(signed_by(&twice, &dev_public_key()));
    // Ed25519 is deterministic: the same key gives the same bytes.
    assert_eq!(twice, sign::sign(&original, &dev_signing_key()));
}

#[test]
fn livepatch_sign_refuses_a_bad_key_file() {
    let dir = test_dir("livepatch-sign-bad");
    let key = dir.join("bad.key");
    std::fs::write(&key, "not hex\n").unwrap();
    let file = dir.join("p.livepatch");
    std::fs::write(&file, b"\x7fELF").unwrap();
    let out = livepatch_sign()
        .arg("--key")
        .arg(&key)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.key: not a key file"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"\x7fELF");
}

#[test]
fn livepatch_build_sign_writes_a_signed_payload() {
    let dir = test_dir("build-sign");
    let tree = copy_tree(&dir, Codegen::AsIs);
    let out = dir.join("out");
    let key = sign::key_pair_paths(&dev_key_prefix()).0;
    let run = build(
        &tree,
        &patch("lp-extraversion"),
        &out,
        &["--sign", key.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let payload = std::fs::read(out.join("lp-extraversion.livepatch")).unwrap();
    assert!(signed_by(&payload, &dev_public_key()));

    // A bad key fails before anything is built.
    let bad = dir.join("missing.key");
    let run = build(
        &tree,
        &patch("lp-extraversion"),
        &dir.join("out2"),
        &["--sign", bad.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("missing.key"), "{}", run.all());
    assert!(!dir.join("out2/.build").exists());
}

fn hello() -> Vec<u8> {
    let p = test_payloads()
        .into_iter()
        .find(|p| p.ends_with("xen_hello_world.livepatch"))
        .expect("xen_hello_world.livepatch");
    std::fs::read(p).unwrap()
}

fn booted(cmdline: &str) -> Machine {
    let image = Image::load(&Image::default_path()).expect("run `make image` first");
    let mut cfg = Config::new(2, 1);
    cfg.cmdline = cmdline.to_string();
    let mut m = Machine::new(image, cfg).expect("machine");
    m.run_for(5 * MS).expect("boot");
    m
}

fn console(m: &Machine) -> String {
    String::from_utf8_lossy(m.console()).into_owned()
}

fn upload(m: &mut Machine, name: &str, bytes: &[u8]) -> i64 {
    Client::new(m).upload(name, bytes).expect("upload")
}

fn count(m: &Machine, line: &str) -> usize {
    console(m).lines().filter(|l| l.contains(line)).count()
}

#[test]
fn a_payload_signed_in_rust_is_verified_by_mini_xen_and_applies() {
    let mut m = booted("");
    // Re-signed here, not by make: the bytes mini-xen checks come from
    // payloads::sign (ed25519-dalek).
    let signed = sign::sign(sign::unsigned_part(&hello()), &dev_signing_key());
    assert_eq!(
        upload(&mut m, "xen_hello_world", &signed),
        0,
        "{}",
        console(&m)
    );
    let (rc, st) = Client::new(&mut m)
        .action_and_settle("xen_hello_world", Action::Apply, 0, 0)
        .expect("apply");
    assert_eq!(rc, 0);
    assert_eq!(
        st,
        Some(Ok(Status {
            state: STATE_APPLIED,
            rc: 0
        }))
    );
    let extra = Guest::new(&mut m, 1).extraversion().expect("hypercall");
    assert_eq!(extra, Ok("Hello World".to_string()));
}

#[test]
fn an_unsigned_or_foreign_payload_is_refused_with_eacces_and_one_line() {
    let mut m = booted("");
    let unsigned = sign::unsigned_part(&hello()).to_vec();
    assert_eq!(upload(&mut m, "unsigned", &unsigned), -errno::EACCES);
    assert_eq!(count(&m, "livepatch: unsigned: refused: no signature"), 1);

    let other = SigningKey::from_bytes(&[42; 32]);
    let foreign = sign::sign(&unsigned, &other);
    assert_eq!(upload(&mut m, "foreign", &foreign), -errno::EACCES);
    let line = format!(
        "livepatch: foreign: refused: signed with unknown key id {}",
        sign::hex(&sign::key_id(&other.verifying_key()))
    );
    assert_eq!(count(&m, &line), 1, "{}", console(&m));

    // The right key id on another key's signature: the signature is bad.
    let mut forged = foreign.clone();
    let at = forged.len() - SIG_NOTE_SIZE + std::mem::offset_of!(SignatureNote, key_id);
    forged[at..at + 8].copy_from_slice(&sign::key_id(&dev_public_key()));
    assert_eq!(upload(&mut m, "forged", &forged), -errno::EACCES);
    assert_eq!(count(&m, "livepatch: forged: refused: bad signature"), 1);

    for name in ["unsigned", "foreign", "forged"] {
        assert_eq!(
            Client::new(&mut m).get(name).expect("get"),
            Err(-errno::ENOENT)
        );
    }
    // Nothing of the refused payloads was loaded: the genuine one loads.
    assert_eq!(
        upload(&mut m, "xen_hello_world", &hello()),
        0,
        "{}",
        console(&m)
    );
}

fn test_payload(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("build/test")
        .join(format!("{name}.livepatch"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run `make build`)", p.display()))
}

#[test]
fn every_single_byte_flip_of_a_signed_payload_is_refused_under_enforce() {
    let signed = test_payload("xen_nop");
    let mut m = booted("livepatch-signature=enforce");
    let snap = m.snapshot().expect("snapshot");
    let before = count(&m, "refused:");
    // The untouched payload loads from this state.
    assert_eq!(upload(&mut m, "xen_nop", &signed), 0, "{}", console(&m));
    for i in 0..signed.len() {
        m.restore(&snap).expect("restore");
        let mut bad = signed.clone();
        // One byte changed, by one bit, the bit position moving along.
        bad[i] ^= 1 << (i % 8);
        let rc = upload(&mut m, "xen_nop", &bad);
        assert_eq!(rc, -errno::EACCES, "byte {i} of {}", signed.len());
        assert_eq!(
            count(&m, "livepatch: xen_nop: refused: "),
            before + 1,
            "byte {i}"
        );
    }
}

#[test]
fn a_truncated_signature_is_refused_under_enforce() {
    let signed = test_payload("xen_nop");
    let mut m = booted("");
    let snap = m.snapshot().expect("snapshot");
    for cut in 1..=SIG_NOTE_SIZE {
        m.restore(&snap).expect("restore");
        let rc = upload(&mut m, "xen_nop", &signed[..signed.len() - cut]);
        assert_eq!(rc, -errno::EACCES, "{cut} bytes cut");
        assert_eq!(count(&m, "livepatch: xen_nop: refused: no signature"), 1);
    }
    // The note without its last signature bytes, padded back to length
    // with zeros: the note is there, the signature is bad.
    m.restore(&snap).expect("restore");
    let mut zeroed = signed.clone();
    let n = zeroed.len();
    zeroed[n - 8..].fill(0);
    assert_eq!(upload(&mut m, "xen_nop", &zeroed), -errno::EACCES);
    assert_eq!(count(&m, "livepatch: xen_nop: refused: bad signature"), 1);
}

#[test]
fn a_note_naming_another_version_or_algorithm_is_refused() {
    use std::mem::offset_of;
    let signed = test_payload("xen_nop");
    let mut m = booted("");
    let note_at = signed.len() - SIG_NOTE_SIZE;
    let cases = [
        (
            offset_of!(SignatureNote, version),
            2u8,
            "signature version 2 is not supported",
        ),
        (
            offset_of!(SignatureNote, algorithm),
            0,
            "signature algorithm 0/1 is not supported",
        ),
        (
            offset_of!(SignatureNote, hash),
            7,
            "signature algorithm 1/7 is not supported",
        ),
        (
            offset_of!(SignatureNote, reserved),
            1,
            "signature note has reserved bits set",
        ),
    ];
    for (i, (off, value, why)) in cases.into_iter().enumerate() {
        let mut bad = signed.clone();
        bad[note_at + off] = value;
        let name = format!("case{i}");
        assert_eq!(upload(&mut m, &name, &bad), -errno::EACCES, "{why}");
        assert_eq!(
            count(&m, &format!("livepatch: {name}: refused: {why}")),
            1,
            "{}",
            console(&m)
        );
    }
}

/// Runs shell commands; returns what they printed.
fn shell(m: Machine, script: &str) -> (Machine, String) {
    let mut sh = scenarios::shell::Shell::new(m.into(), Vec::new());
    for line in script.lines() {
        let outcome = sh.exec_line(line).expect("command");
        assert_eq!(outcome.map(|o| o.status), Some(0), "{line}");
    }
    let (tb, out) = sh.into_parts();
    (
        tb.into_machine(),
        String::from_utf8_lossy(&out).into_owned(),
    )
}

#[test]
fn warn_loads_what_enforce_refuses_with_one_warning_each() {
    let mut m = booted("livepatch-signature=warn");
    let unsigned = sign::unsigned_part(&test_payload("xen_nop")).to_vec();
    assert_eq!(upload(&mut m, "unsigned", &unsigned), 0, "{}", console(&m));
    assert_eq!(
        count(
            &m,
            "livepatch: unsigned: loading anyway: no signature (livepatch-signature=warn)"
        ),
        1
    );
    // A flipped signature byte: the ELF is intact, the signature is not.
    let mut tampered = test_payload("xen_expectations");
    let n = tampered.len();
    tampered[n - 1] ^= 0x20;
    assert_eq!(upload(&mut m, "tampered", &tampered), 0, "{}", console(&m));
    assert_eq!(
        count(
            &m,
            "livepatch: tampered: loading anyway: bad signature (livepatch-signature=warn)"
        ),
        1
    );
    assert_eq!(upload(&mut m, "xen_hello_world", &hello()), 0);
    assert_eq!(count(&m, "loading anyway"), 2, "the good one is quiet");
    // Loaded means usable: the unsigned NOP patch applies.
    let (rc, st) = Client::new(&mut m)
        .action_and_settle("unsigned", Action::Apply, 0, 0)
        .expect("apply");
    assert_eq!(
        (rc, st.map(|s| s.map(|s| s.state))),
        (0, Some(Ok(STATE_APPLIED)))
    );

    let (_, out) = shell(m, "xen-livepatch signature\nxl debug-keys x\nxl dmesg -c");
    assert!(out.contains("Signature checking: warn\n"), "{out}");
    assert!(
        out.contains("livepatch-signature=warn key=livepatch-dev.pub"),
        "{out}"
    );
    let sigs: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split("signature=").nth(1))
        .filter(|s| !s.starts_with("warn"))
        .collect();
    assert_eq!(sigs, ["INVALID", "INVALID", "valid"], "{out}");
}

#[test]
fn off_ignores_signatures_and_says_so() {
    let mut m = booted("livepatch-signature=off");
    let unsigned = sign::unsigned_part(&test_payload("xen_nop")).to_vec();
    assert_eq!(upload(&mut m, "unsigned", &unsigned), 0, "{}", console(&m));
    let mut tampered = test_payload("xen_expectations");
    let n = tampered.len();
    tampered[n - 1] ^= 0x20;
    assert_eq!(upload(&mut m, "tampered", &tampered), 0, "{}", console(&m));
    assert_eq!(count(&m, "loading anyway"), 0);
    assert_eq!(count(&m, "refused:"), 0);
    let (_, out) = shell(m, "xen-livepatch signature\nxl debug-keys x\nxl dmesg -c");
    assert!(out.contains("Signature checking: off\n"), "{out}");
    assert!(
        out.contains("livepatch-signature=off key=livepatch-dev.pub"),
        "{out}"
    );
    assert_eq!(out.matches("signature=unchecked").count(), 2, "{out}");
}

#[test]
fn enforce_is_the_default_and_a_bad_mode_keeps_it() {
    let id = sign::hex(&sign::key_id(&dev_public_key()));
    for cmdline in [
        "",
        "livepatch-signature=enforce",
        "livepatch-signature=maybe",
    ] {
        let mut m = booted(cmdline);
        let unsigned = sign::unsigned_part(&hello()).to_vec();
        assert_eq!(upload(&mut m, "u", &unsigned), -errno::EACCES, "{cmdline}");
        let (m, out) = shell(m, "xen-livepatch signature\nxl debug-keys x\nxl dmesg -c");
        assert_eq!(
            out.lines().take(2).collect::<Vec<_>>(),
            [
                "Signature checking: enforce".to_string(),
                format!("Trusted key: Ed25519, key id {id}")
            ],
            "{cmdline}"
        );
        assert!(
            out.contains(&format!(
                "livepatch-signature=enforce key=livepatch-dev.pub key-id={id} (Ed25519)"
            )),
            "{out}"
        );
        let refused = console(&m)
            .lines()
            .filter(|l| l.contains("option \"livepatch-signature\" refused value \"maybe\""))
            .count();
        assert_eq!(
            refused,
            usize::from(cmdline.ends_with("maybe")),
            "{cmdline}"
        );
    }
}
