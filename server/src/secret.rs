//! The stored form of a user's password, in PostgreSQL's own formats so that a secret
//! can be copied from `pg_authid.rolpassword` and back:
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts), or
//! `md5<hex of md5(password || user name)>` for clients that only speak MD5.
//! The server never keeps a password itself.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

/// PostgreSQL's default SCRAM iteration count (`scram_iterations`).
pub const SCRAM_ITERATIONS: u32 = 4096;
const SCRAM_PREFIX: &str = "SCRAM-SHA-256$";
const SALT_LEN: usize = 16;

/// A user's stored secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Scram(ScramSecret),
    /// `md5` followed by 32 hex digits.
    Md5(String),
}

/// The SCRAM-SHA-256 verifier: what the server needs to check a client's proof and to
/// prove itself, from which the password cannot be recovered without a brute-force search.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramSecret(..)")
    }
}

/// Never print secrets in logs or panics.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Scram(_) => f.write_str("Secret::Scram(..)"),
            Secret::Md5(_) => f.write_str("Secret::Md5(..)"),
        }
    }
}

impl Secret {
    /// Reads a stored secret; the error says which format was expected.
    pub fn parse(text: &str) -> Result<Secret, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(SCRAM_PREFIX) {
            return ScramSecret::parse(rest).map(Secret::Scram).ok_or_else(|| {
                "a SCRAM secret reads SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"
                    .to_string()
            });
        }
        if let Some(hex) = text.strip_prefix("md5")
            && hex.len() == 32
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Ok(Secret::Md5(text.to_ascii_lowercase()));
        }
        Err(
            "a secret starts with SCRAM-SHA-256$ or md5 (make one with `floe hash-password`)"
                .to_string(),
        )
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Scram(s) => write!(
                f,
                "{SCRAM_PREFIX}{}:{}${}:{}",
                s.iterations,
                BASE64.encode(&s.salt),
                BASE64.encode(&s.stored_key),
                BASE64.encode(&s.server_key)
            ),
            Secret::Md5(hex) => f.write_str(hex),
        }
    }
}

impl ScramSecret {
    fn parse(text: &str) -> Option<ScramSecret> {
        let (parameters, keys) = text.split_once('$')?;
        let (iterations, salt) = parameters.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let secret = ScramSecret {
            iterations: iterations.parse().ok().filter(|&i| i > 0)?,
            salt: BASE64.decode(salt).ok()?,
            stored_key: BASE64.decode(stored_key).ok()?,
            server_key: BASE64.decode(server_key).ok()?,
        };
        (secret.stored_key.len() == digest::SHA256_OUTPUT_LEN
            && secret.server_key.len() == digest::SHA256_OUTPUT_LEN)
            .then_some(secret)
    }

    /// The verifier for `password` with a fresh random salt.
    pub fn from_password(password: &str) -> ScramSecret {
        let mut salt = vec![0; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .expect("the system's random source");
        ScramSecret::with_salt(password, salt, SCRAM_ITERATIONS)
    }

    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> ScramSecret {
        // RFC 5802 normalises the password with SASLprep; like PostgreSQL, a password that
        // does not normalise is used as it is.
        let normalized = stringprep::saslprep(password).unwrap_or(Cow::Borrowed(password));
        let mut salted = [0u8; digest::SHA256_OUTPUT_LEN];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            NonZeroU32::new(iterations).expect("iterations > 0"),
            &salt,
            normalized.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramSecret {
            iterations,
            salt,
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// A verifier no password matches, for user names the server does not know: the
    /// client goes through the same exchange and learns only that the login failed.
    pub fn unmatchable() -> ScramSecret {
        let mut random = vec![0; SALT_LEN + 2 * digest::SHA256_OUTPUT_LEN];
        SystemRandom::new()
            .fill(&mut random)
            .expect("the system's random source");
        let server_key = random.split_off(SALT_LEN + digest::SHA256_OUTPUT_LEN);
        let stored_key = random.split_off(SALT_LEN);
        ScramSecret {
            iterations: SCRAM_ITERATIONS,
            salt: random,
            stored_key,
            server_key,
        }
    }
}

/// The stored MD5 secret of `user` with `password`, as PostgreSQL computes it.
pub fn md5_secret(user: &str, password: &str) -> Secret {
    Secret::Md5(format!(
        "md5{:x}",
        md5::compute(format!("{password}{user}"))
    ))
}

/// What an MD5 client must send for `secret` and the server's one-time `salt`:
/// `md5` + hex(md5(hex-part-of-secret || salt)).
pub fn md5_response(secret: &str, salt: &[u8]) -> String {
    let hex = secret.strip_prefix("md5").unwrap_or(secret);
    let mut input = hex.as_bytes().to_vec();
    input.extend_from_slice(salt);
    format!("md5{:x}", md5::compute(input))
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
        .as_ref()
        .to_vec()
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// Compares without an early exit, so the time taken does not tell how much matched.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_secret_matches_postgresql() {
        // RFC 7677's example password and salt; the keys were computed independently
        // with Python's hashlib (pbkdf2_hmac, hmac, sha256).
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let secret = Secret::Scram(ScramSecret::with_salt("pencil", salt, 4096));
        assert_eq!(
            secret.to_string(),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
        assert_eq!(Secret::parse(&secret.to_string()).unwrap(), secret);
    }

    #[test]
    fn md5_secret_matches_postgresql() {
        // md5('secret' || 'alice'), computed with Python's hashlib.
        let secret = md5_secret("alice", "secret");
        assert_eq!(secret.to_string(), "md54a0a68b43b6cd5cf266fa02f196e2371");
        assert_eq!(Secret::parse(&secret.to_string()).unwrap(), secret);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for text in [
            "",
            "pencil",
            "md5xyz",
            "SCRAM-SHA-256$4096:c2FsdA==",
            "SCRAM-SHA-256$0:c2FsdA==$AAAA:AAAA",
            "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
        ] {
            assert!(Secret::parse(text).is_err(), "{text:?}");
        }
    }
}
