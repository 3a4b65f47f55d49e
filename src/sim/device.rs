//! One simulated device: what it expects (passwords, enable password), who it
//! is (its SSH host key and server settings), and the small behaviours its
//! SSH and Telnet servers share (noise, draining a silent connection).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{Algorithm, HashAlg, PrivateKey};
use russh::server;
use russh::{MethodKind, MethodSet, Preferred, cipher, kex, mac};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{DeviceSpec, Fault};

/// The legacy-only devices' RSA host key (ssh-rsa needs one; generating
/// RSA keys at start-up is slow). A throwaway key for the simulator only.
const LEGACY_RSA_KEY: &str = include_str!("legacy_rsa_host_key");

pub(super) struct Device {
    pub(super) spec: DeviceSpec,
    /// The password and enable password it really expects.
    pub(super) password: String,
    pub(super) enable: String,
    /// Its SSH server settings (host key, algorithms, methods).
    pub(super) config: Arc<server::Config>,
}

/// The simulated device `name`'s stable host key (derived from its name, so
/// a restarted simulator keeps its keys).
pub fn host_key_for(name: &str) -> PrivateKey {
    let mut seed = [0u8; 32];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    for chunk in seed.chunks_mut(8) {
        // splitmix64
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

pub(super) fn random_host_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    // Unique enough for a simulator: time and a counter.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    seed[..16].copy_from_slice(&t.to_le_bytes());
    seed[16..24].copy_from_slice(&n.to_le_bytes());
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

impl Device {
    pub(super) fn new(spec: DeviceSpec) -> Self {
        let password = if spec.has(Fault::WrongPassword) {
            format!("{}-not", spec.password)
        } else {
            spec.password.clone()
        };
        let enable = if spec.has(Fault::WrongEnable) {
            format!("{}-not", spec.enable_password)
        } else {
            spec.enable_password.clone()
        };
        let config = Arc::new(Self::config(&spec, host_key_for(&spec.name)));
        Device {
            spec,
            password,
            enable,
            config,
        }
    }

    pub(super) fn config(spec: &DeviceSpec, key: PrivateKey) -> server::Config {
        let mut methods = MethodSet::empty();
        if !spec.has(Fault::KbdInteractive) {
            methods.push(MethodKind::Password);
        }
        methods.push(MethodKind::KeyboardInteractive);
        let mut config = server::Config {
            server_id: russh::SshId::Standard(Cow::Borrowed("SSH-2.0-Cisco-1.25")),
            methods,
            auth_rejection_time: Duration::from_millis(20),
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            inactivity_timeout: Some(Duration::from_secs(120)),
            max_auth_attempts: 6,
            nodelay: true,
            ..Default::default()
        };
        if spec.has(Fault::LegacyOnly) {
            if let Ok(rsa) = PrivateKey::from_openssh(LEGACY_RSA_KEY) {
                config.keys = vec![rsa];
            }
            config.preferred = Preferred {
                kex: Cow::Borrowed(&[kex::DH_G14_SHA1, kex::DH_G1_SHA1]),
                key: Cow::Borrowed(&[Algorithm::Rsa { hash: None }]),
                cipher: Cow::Borrowed(&[
                    cipher::AES_128_CBC,
                    cipher::AES_256_CBC,
                    cipher::TRIPLE_DES_CBC,
                ]),
                mac: Cow::Borrowed(&[mac::HMAC_SHA1]),
                ..Preferred::DEFAULT
            };
        }
        config
    }
}

/// The SHA-256 fingerprint of the device `name`'s host key, as OpenSSH
/// prints it.
pub fn fingerprint_for(name: &str) -> String {
    host_key_for(name)
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

/// What a [`Fault::Garbage`] device says: 1 KiB of the same pseudo-random
/// bytes every time, with no line feed (so no line to read either).
pub(super) fn noise() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..1024)
        .map(|_| {
            // xorshift32
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x.to_le_bytes()[0] {
                b'\n' => b'.',
                b => b,
            }
        })
        .collect()
}

/// Reads and discards until the peer goes away (at most 10 minutes).
pub(super) async fn drain<R: AsyncRead + Unpin>(mut rd: R) {
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(600), async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
