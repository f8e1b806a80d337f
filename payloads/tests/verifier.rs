//! mini-xen's own SHA-512 and Ed25519 verifier (`mini-xen/common/sha512.c`,
//! `ed25519.c`), built unchanged for the host with `tools/crypto-test.c`,
//! against FIPS 180-4 / NIST example vectors, RFC 8032 section 7.1, and
//! ed25519-dalek on generated keys, messages and tampered signatures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};

fn mini_xen() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mini-xen")
}

/// Builds the host driver once per test binary.
fn driver_path() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crypto-test");
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join(format!("crypto-test-{}", std::process::id()));
        let src = mini_xen();
        let st = Command::new("gcc")
            .args([
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wno-unused-parameter",
            ])
            .arg("-I")
            .arg(src.join("include"))
            .arg("-o")
            .arg(&exe)
            .arg(src.join("tools/crypto-test.c"))
            .arg(src.join("common/sha512.c"))
            .arg(src.join("common/ed25519.c"))
            .status()
            .expect("gcc runs");
        assert!(st.success(), "crypto-test did not build");
        exe
    })
}

/// A running driver: one command line in, one answer line out.
struct Driver {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Driver {
    fn new() -> Driver {
        let mut child = Command::new(driver_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("crypto-test runs");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Driver {
            child,
            input,
            output,
        }
    }

    fn ask(&mut self, line: &str) -> String {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
        let mut answer = String::new();
        self.output.read_line(&mut answer).unwrap();
        assert!(!answer.is_empty(), "crypto-test died on: {line:.80}");
        answer.trim_end().to_string()
    }

    fn sha512(&mut self, msg: &[u8]) -> String {
        self.ask(&format!("sha512 {}", hex_or_dash(msg)))
    }

    fn verify(&mut self, pk: &[u8; 32], sig: &[u8; 64], msg: &[u8]) -> bool {
        match self
            .ask(&format!(
                "verify {} {} {}",
                hex(pk),
                hex(sig),
                hex_or_dash(msg)
            ))
            .as_str()
        {
            "1" => true,
            "0" => false,
            other => panic!("crypto-test answered {other}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_or_dash(b: &[u8]) -> String {
    if b.is_empty() {
        "-".into()
    } else {
        hex(b)
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    unhex(s).try_into().unwrap()
}

#[test]
fn sha512_matches_the_fips_180_4_examples() {
    let mut d = Driver::new();
    let cases: [(&[u8], &str); 4] = [
        (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
        (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"),
    ];
    for (msg, want) in cases {
        assert_eq!(d.sha512(msg), want, "{:?}", String::from_utf8_lossy(msg));
    }
    // One million 'a', fed one byte at a time (every buffer boundary).
    assert_eq!(
        d.ask("sha512-repeat 61 1000000"),
        "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
    );
}

#[test]
fn sha512_agrees_with_the_sha2_crate_at_every_length_around_the_blocks() {
    let mut d = Driver::new();
    let data: Vec<u8> = (0..600u32).map(|i| (i * 131 % 251) as u8).collect();
    for len in (0..=300).chain([383, 384, 385, 511, 512, 513, 600]) {
        let msg = &data[..len];
        assert_eq!(d.sha512(msg), hex(&Sha512::digest(msg)), "length {len}");
    }
}

/// RFC 8032 section 7.1: secret key, public key, message, signature.
const RFC8032: [(&str, &str, &str, &str); 4] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

/// RFC 8032 7.1 TEST 1024 (1023-byte message).
const RFC8032_1024: (&str, &str, &str) = (
    "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
    "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
    "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
);
const RFC8032_1024_MSG: &str = concat!(
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1",
    "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a",
    "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10",
    "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d",
    "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b",
    "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b",
    "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d",
    "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7",
    "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09",
    "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161",
    "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca",
    "c60c905c15fc910840b94c00a0b9d0",
);

/// Secret key, public key, message, signature.
type Vector = ([u8; 32], [u8; 32], Vec<u8>, [u8; 64]);

fn rfc_vectors() -> Vec<Vector> {
    let mut v: Vec<_> = RFC8032
        .iter()
        .map(|(sk, pk, m, s)| (arr(sk), arr(pk), unhex(m), arr(s)))
        .collect();
    let (sk, pk, s) = RFC8032_1024;
    v.push((arr(sk), arr(pk), unhex(RFC8032_1024_MSG), arr(s)));
    v
}

#[test]
fn ed25519_accepts_every_rfc_8032_vector_and_dalek_agrees_on_them() {
    let mut d = Driver::new();
    for (sk, pk, msg, sig) in rfc_vectors() {
        // The transcription is right: dalek derives the same key and
        // (Ed25519 being deterministic) the same signature.
        let key = SigningKey::from_bytes(&sk);
        assert_eq!(key.verifying_key().to_bytes(), pk);
        assert_eq!(key.sign(&msg).to_bytes(), sig);
        assert!(d.verify(&pk, &sig, &msg), "message of {} bytes", msg.len());
    }
    assert_eq!(unhex(RFC8032_1024_MSG).len(), 1023);
}

#[test]
fn ed25519_refuses_every_single_bit_flip_of_an_rfc_vector() {
    let mut d = Driver::new();
    let (_, pk, msg, sig) = rfc_vectors().swap_remove(2);
    for bit in 0..512 {
        let mut bad = sig;
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(!d.verify(&pk, &bad, &msg), "signature bit {bit}");
    }
    for bit in 0..256 {
        let mut bad = pk;
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(!d.verify(&bad, &sig, &msg), "key bit {bit}");
    }
    for bit in 0..8 * msg.len() {
        let mut bad = msg.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(!d.verify(&pk, &sig, &bad), "message bit {bit}");
    }
    assert!(!d.verify(&pk, &sig, &msg[..1]));
}

/// L, the order of the base point, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn ed25519_refuses_s_at_or_above_l_and_non_canonical_encodings() {
    let mut d = Driver::new();
    let (_, pk, msg, sig) = rfc_vectors().swap_remove(0);
    // S + L is the same scalar mod L: malleable, refused (RFC 8032 5.1.7).
    let mut s_plus_l = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        s_plus_l[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert!(!d.verify(&pk, &s_plus_l, &msg));
    let mut s_is_l = sig;
    s_is_l[32..].copy_from_slice(&L);
    assert!(!d.verify(&pk, &s_is_l, &msg));
    // y = p (not below p) as the key; all ones (y >= p) as R.
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    assert!(!d.verify(&p, &sig, &msg));
    let mut r_bad = sig;
    r_bad[..32].copy_from_slice(&[0xff; 32]);
    assert!(!d.verify(&pk, &r_bad, &msg));
}

/// A deterministic stream of bytes for generated cases.
fn stream(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut block = 0u64;
    while out.len() < len {
        let mut h = Sha512::new();
        h.update(seed.to_le_bytes());
        h.update(block.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        block += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn ed25519_agrees_with_dalek_on_generated_keys_messages_and_forgeries() {
    let mut d = Driver::new();
    for i in 0..64u64 {
        let seed: [u8; 32] = stream(i, 32).try_into().unwrap();
        let key = SigningKey::from_bytes(&seed);
        let pk = key.verifying_key();
        let msg = stream(1000 + i, (i as usize * 37) % 700);
        let sig = key.sign(&msg).to_bytes();
        assert!(d.verify(&pk.to_bytes(), &sig, &msg), "case {i}");
        // Another key's signature on the same message.
        let other = SigningKey::from_bytes(&stream(5000 + i, 32).try_into().unwrap());
        let forged = other.sign(&msg).to_bytes();
        assert!(!d.verify(&pk.to_bytes(), &forged, &msg), "case {i}");
        // Random bytes as a signature: whatever dalek says, so do we.
        let junk: [u8; 64] = stream(9000 + i, 64).try_into().unwrap();
        let dalek = pk
            .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&junk))
            .is_ok();
        assert_eq!(d.verify(&pk.to_bytes(), &junk, &msg), dalek, "case {i}");
        // Random bytes as a key.
        let junk_key: [u8; 32] = stream(7000 + i, 32).try_into().unwrap();
        let dalek = VerifyingKey::from_bytes(&junk_key)
            .map(|k| {
                k.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_ok()
            })
            .unwrap_or(false);
        assert_eq!(d.verify(&junk_key, &sig, &msg), dalek, "case {i}");
    }
}
