//! Payload signatures: an Ed25519 signature note appended to the payload
//! (`struct livepatch_signature_note`, `mini-xen/include/public/livepatch.h`,
//! mirrored in [`abi::livepatch::SignatureNote`]), signing every byte
//! before the signature field. Keys are files of hex: a `.key` holds the
//! 32-byte Ed25519 seed (secret), a `.pub` the 32-byte public key.

use std::path::{Path, PathBuf};

use abi::livepatch::{SignatureNote, SIG_KEY_ID_SIZE, SIG_NOTE_SIZE, SIG_OFFSET};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};

/// Errors of signing and of key files.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A key or payload file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A key file does not hold 64 hex digits.
    #[error("{}: not a key file (expected 64 hex digits, one 32-byte key)", path.display())]
    BadKeyFile {
        /// The file.
        path: PathBuf,
    },
    /// A public key file holds bytes that are not a curve point.
    #[error("{}: not an Ed25519 public key", path.display())]
    BadPublicKey {
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("no random bytes for a new key: {0}")]
    Random(getrandom::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SignError + '_ {
    move |source| SignError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The key id of `key`: the first bytes of SHA-512 of the public key.
pub fn key_id(key: &VerifyingKey) -> [u8; SIG_KEY_ID_SIZE] {
    let digest = Sha512::digest(key.as_bytes());
    let mut id = [0u8; SIG_KEY_ID_SIZE];
    id.copy_from_slice(&digest[..SIG_KEY_ID_SIZE]);
    id
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The payload without its signature note, if it has one.
pub fn unsigned_part(payload: &[u8]) -> &[u8] {
    match SignatureNote::find(payload) {
        Some(_) => &payload[..payload.len() - SIG_NOTE_SIZE],
        None => payload,
    }
}

/// `payload` (an earlier signature note removed) with a note signed by
/// `key` appended.
pub fn sign(payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut out = unsigned_part(payload).to_vec();
    let mut note = SignatureNote::ed25519(key_id(&key.verifying_key()));
    let elf_len = out.len();
    out.extend_from_slice(&note.to_bytes());
    note.signature = key.sign(&out[..elf_len + SIG_OFFSET]).to_bytes();
    out.truncate(elf_len);
    out.extend_from_slice(&note.to_bytes());
    out
}

fn read_key_bytes(path: &Path) -> Result<[u8; 32], SignError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let digits = text.trim();
    let bad = || SignError::BadKeyFile {
        path: path.to_path_buf(),
    };
    if digits.len() != 64 || !digits.is_ascii() {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

/// Reads a secret key file (`.key`).
pub fn read_signing_key(path: &Path) -> Result<SigningKey, SignError> {
    Ok(SigningKey::from_bytes(&read_key_bytes(path)?))
}

/// Reads a public key file (`.pub`).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, SignError> {
    VerifyingKey::from_bytes(&read_key_bytes(path)?).map_err(|_| SignError::BadPublicKey {
        path: path.to_path_buf(),
    })
}

/// Signs the payload file at `path` in place with `key`.
pub fn sign_file(path: &Path, key: &SigningKey) -> Result<(), SignError> {
    let payload = std::fs::read(path).map_err(io(path))?;
    std::fs::write(path, sign(&payload, key)).map_err(io(path))
}

/// `PREFIX.key` and `PREFIX.pub`.
pub fn key_pair_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    (with(".key"), with(".pub"))
}

/// Makes a new key pair from the operating system's random source and
/// writes it as `PREFIX.key` (mode 0600) and `PREFIX.pub`.
pub fn generate_key_pair(prefix: &Path) -> Result<VerifyingKey, SignError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(SignError::Random)?;
    let key = SigningKey::from_bytes(&seed);
    let (secret, public) = key_pair_paths(prefix);
    if let Some(dir) = prefix.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    write_secret(&secret, &format!("{}\n", hex(&seed)))?;
    std::fs::write(
        &public,
        format!("{}\n", hex(key.verifying_key().as_bytes())),
    )
    .map_err(io(&public))?;
    Ok(key.verifying_key())
}

fn write_secret(path: &Path, text: &str) -> Result<(), SignError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn the_signature_covers_the_elf_and_the_note_up_to_the_key_id() {
        let k = key(7);
        let signed = sign(b"\x7fELF payload", &k);
        assert_eq!(signed.len(), 12 + SIG_NOTE_SIZE);
        let note = SignatureNote::find(&signed).expect("note");
        assert_eq!(note.key_id, key_id(&k.verifying_key()));
        let msg = &signed[..signed.len() - SIG_NOTE_SIZE + SIG_OFFSET];
        let sig = Signature::from_bytes(&note.signature);
        assert!(k.verifying_key().verify(msg, &sig).is_ok());
        let mut other = msg.to_vec();
        other[0] ^= 1;
        assert!(k.verifying_key().verify(&other, &sig).is_err());
    }

    #[test]
    fn signing_again_replaces_the_note() {
        let once = sign(b"payload", &key(1));
        let twice = sign(&once, &key(2));
        assert_eq!(twice.len(), once.len());
        assert_eq!(unsigned_part(&twice), b"payload");
        assert_eq!(
            SignatureNote::find(&twice).map(|n| n.key_id),
            Some(key_id(&key(2).verifying_key()))
        );
    }

    #[test]
    fn key_files_round_trip_and_bad_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("sign-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let prefix = dir.join("sub/k.v1");
        let public = generate_key_pair(&prefix).expect("keygen");
        let (key_file, pub_file) = key_pair_paths(&prefix);
        assert!(key_file.ends_with("sub/k.v1.key"));
        let secret = read_signing_key(&key_file).expect("key");
        assert_eq!(secret.verifying_key(), public);
        assert_eq!(read_verifying_key(&pub_file).expect("pub"), public);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let bad = dir.join("bad.key");
        std::fs::write(&bad, "00ff").expect("write");
        assert!(matches!(
            read_signing_key(&bad),
            Err(SignError::BadKeyFile { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
