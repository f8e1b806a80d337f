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
        "livepatch: payload signing key livepatch-dev.pub, key id {} (Ed25519)",
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
