//! The server's side of a SCRAM-SHA-256 exchange (RFC 5802 / RFC 7677, as PostgreSQL
//! runs it): client-first → server-first, client-final → server-final. It checks the
//! client's proof against the stored verifier only, so the server never sees or keeps the
//! password. Channel binding (SCRAM-SHA-256-PLUS) is not offered.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret::{ScramSecret, hmac_sha256, same_bytes, sha256};

pub const MECHANISM: &str = "SCRAM-SHA-256";

/// Why an exchange failed: a malformed message (a protocol violation) or a wrong proof.
#[derive(Debug, PartialEq, Eq)]
pub enum ScramError {
    Malformed(String),
    WrongProof,
}

/// An exchange after the server-first message was sent.
#[derive(Debug)]
pub struct AwaitingClientFinal {
    secret: ScramSecret,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// Answers the client-first message; the returned text is sent as SASLContinue.
pub fn server_first(
    client_first: &[u8],
    secret: ScramSecret,
) -> Result<(String, AwaitingClientFinal), ScramError> {
    let message = utf8(client_first)?;
    // gs2-header = cbind-flag "," [authzid] ","
    let mut parts = message.splitn(3, ',');
    let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("client-first-message"));
    };
    match flag {
        // "y": the client could bind but thinks the server cannot, which is so.
        "n" | "y" => {}
        _ if flag.starts_with("p=") => {
            return Err(ScramError::Malformed(
                "channel binding was not offered".to_string(),
            ));
        }
        _ => return Err(malformed("gs2 header")),
    }
    if !authzid.is_empty() {
        return Err(ScramError::Malformed(
            "authorization identities are not supported".to_string(),
        ));
    }
    // The user name inside is ignored, as in PostgreSQL: the startup message named it.
    let client_nonce = attributes(bare)
        .find_map(|(key, value)| (key == "r").then_some(value))
        .filter(|nonce| !nonce.is_empty())
        .ok_or_else(|| malformed("client nonce"))?;
    if bare.starts_with("m=") {
        return Err(malformed("mandatory extension"));
    }
    let nonce = format!("{client_nonce}{}", server_nonce());
    let server_first = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&secret.salt),
        secret.iterations
    );
    let gs2_header = format!("{flag},{authzid},");
    Ok((
        server_first.clone(),
        AwaitingClientFinal {
            secret,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
        },
    ))
}

impl AwaitingClientFinal {
    /// Checks the client-final message; on success the returned text (the server's own
    /// proof) is sent as SASLFinal.
    pub fn server_final(self, client_final: &[u8]) -> Result<String, ScramError> {
        let message = utf8(client_final)?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("client-final-message"))?;
        let mut binding = None;
        let mut nonce = None;
        for (key, value) in attributes(without_proof) {
            match key {
                "c" => binding = Some(value),
                "r" => nonce = Some(value),
                _ => {}
            }
        }
        if binding != Some(BASE64.encode(&self.gs2_header).as_str()) {
            return Err(malformed("channel binding"));
        }
        if nonce != Some(self.nonce.as_str()) {
            return Err(malformed("nonce"));
        }
        let proof = BASE64.decode(proof).map_err(|_| malformed("proof"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = hmac_sha256(&self.secret.stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(ScramError::WrongProof);
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !same_bytes(&sha256(&client_key), &self.secret.stored_key) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac_sha256(&self.secret.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

fn attributes(message: &str) -> impl Iterator<Item = (&str, &str)> {
    message
        .split(',')
        .filter_map(|attribute| attribute.split_once('='))
}

fn server_nonce() -> String {
    let mut bytes = [0u8; 18];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source");
    BASE64.encode(bytes)
}

fn utf8(message: &[u8]) -> Result<&str, ScramError> {
    std::str::from_utf8(message).map_err(|_| malformed("encoding"))
}

fn malformed(what: &str) -> ScramError {
    ScramError::Malformed(format!("malformed SCRAM message ({what})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side of the exchange, written from RFC 5802 (the real clients are
    /// exercised by the integration tests).
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let attrs: Vec<(&str, &str)> = attributes(server_first).collect();
        let salt = BASE64.decode(attrs[1].1).unwrap();
        let iterations: u32 = attrs[2].1.parse().unwrap();
        let secret = ScramSecret::with_salt(password, salt.clone(), iterations);
        // Recompute the client key the way a client does: from the salted password.
        let mut salted = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(iterations).unwrap(),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = hmac_sha256(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={}", attrs[0].1);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac_sha256(&secret.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    #[test]
    fn right_password_passes_and_wrong_one_fails() {
        let bare = "n=,r=rOprNGfwEbeRWgbNEkqO";
        for (password, expected_ok) in [("pencil", true), ("pen", false)] {
            let secret = ScramSecret::from_password("pencil");
            let (first, waiting) = server_first(format!("n,,{bare}").as_bytes(), secret).unwrap();
            assert!(first.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
            let result = waiting.server_final(client_final(password, bare, &first).as_bytes());
            assert_eq!(result.is_ok(), expected_ok, "{password}: {result:?}");
            if !expected_ok {
                assert_eq!(result.unwrap_err(), ScramError::WrongProof);
            }
        }
    }

    #[test]
    fn malformed_messages_are_protocol_errors() {
        let secret = ScramSecret::from_password("pencil");
        for first in [
            "",
            "n,",
            "x,,n=,r=abc",
            "p=tls-server-end-point,,n=,r=abc",
            "n,,n=",
        ] {
            assert!(
                matches!(
                    server_first(first.as_bytes(), secret.clone()),
                    Err(ScramError::Malformed(_))
                ),
                "{first:?}"
            );
        }
        let (_, waiting) = server_first(b"n,,n=,r=abc", secret).unwrap();
        assert!(matches!(
            waiting.server_final(b"c=biws,r=other,p=AAAA"),
            Err(ScramError::Malformed(_))
        ));
    }
}
