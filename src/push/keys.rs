//! The server's push secrets, generated at first use and kept in the database (`server_keys`): the
//! VAPID key pair (RFC 8292) that identifies this server to push services, and the secret that
//! push topics are derived from. Every instance on one database reads the same ones.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::on_db;
use crate::store::Store;

const VAPID_KEY: &str = "vapid-private-key";
const TOPIC_SECRET: &str = "push-topic-secret";

pub struct Keys {
    vapid: SigningKey,
    /// The VAPID public key, uncompressed P-256 point, base64url: as advertised and as sent in `k=`.
    vapid_public: String,
    topic_secret: Vec<u8>,
}

impl Keys {
    /// The keys kept in the database, generated (and stored) if there are none yet.
    pub async fn load(store: &Store) -> Result<Keys> {
        let vapid = stored_or_new(store, VAPID_KEY, || {
            URL_SAFE_NO_PAD.encode(p256::SecretKey::random(&mut rand::rngs::OsRng).to_bytes())
        })
        .await?;
        let secret = stored_or_new(store, TOPIC_SECRET, || {
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            URL_SAFE_NO_PAD.encode(secret)
        })
        .await?;
        Keys::from_stored(&vapid, &secret)
    }

    fn from_stored(vapid: &str, secret: &str) -> Result<Keys> {
        let scalar = URL_SAFE_NO_PAD.decode(vapid.trim()).context("the stored VAPID key is not base64url")?;
        let secret_key = p256::SecretKey::from_slice(&scalar).context("the stored VAPID key is not a P-256 key")?;
        let vapid_public = URL_SAFE_NO_PAD.encode(secret_key.public_key().to_encoded_point(false).as_bytes());
        let topic_secret = URL_SAFE_NO_PAD.decode(secret.trim()).context("the stored topic secret is not base64url")?;
        if topic_secret.len() < 16 {
            bail!("the stored push topic secret is too short");
        }
        Ok(Keys { vapid: SigningKey::from(secret_key), vapid_public, topic_secret })
    }

    pub fn vapid_public_key(&self) -> &str {
        &self.vapid_public
    }

    /// The push topic of a collection: stable, unique per collection key, and not guessable from
    /// it (a keyed hash), since the `Topic` header of a push is visible to the push service.
    /// 22 base64url characters, within the 32 RFC 8030 5.4 allows.
    pub fn topic(&self, collection: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(&self.topic_secret);
        hash.update([0u8]);
        hash.update(collection.as_bytes());
        URL_SAFE_NO_PAD.encode(&hash.finalize()[..16])
    }

    /// The `Authorization` header of a push to a push service at `audience` (the origin of the
    /// push resource): a VAPID token (an ES256 JWT, RFC 8292 2) valid until `expires` (unix
    /// seconds), naming `subject` as the contact, with the public key.
    pub fn vapid_authorization(&self, audience: &str, subject: &str, expires: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": expires, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.vapid.sign(signing_input.as_bytes());
        format!("vapid t={signing_input}.{}, k={}", URL_SAFE_NO_PAD.encode(signature.to_bytes()), self.vapid_public)
    }
}

/// The value of `name` in `server_keys`, inserting `generate()` first if there is none. Two
/// instances starting at once both insert; the first one wins and both read it.
async fn stored_or_new(store: &Store, name: &str, generate: impl FnOnce() -> String) -> Result<String> {
    let value = generate();
    let stored: String = on_db!(store, write, |pool| {
        sqlx::query("INSERT INTO server_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&value)
            .execute(pool)
            .await?;
        sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1").bind(name).fetch_one(pool).await?
    });
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    fn keys() -> Keys {
        let scalar = URL_SAFE_NO_PAD.encode(p256::SecretKey::random(&mut rand::rngs::OsRng).to_bytes());
        Keys::from_stored(&scalar, &URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn topics_are_stable_distinct_and_short() {
        let keys = keys();
        assert_eq!(keys.topic("cards:1"), keys.topic("cards:1"));
        assert_ne!(keys.topic("cards:1"), keys.topic("cards:2"));
        assert_eq!(keys.topic("cards:1").len(), 22);
    }

    #[test]
    fn the_vapid_token_verifies_with_the_advertised_key() {
        let keys = keys();
        let header = keys.vapid_authorization("https://push.example.net", "mailto:a@example.net", 1_900_000_000);
        let (token, key) = header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(key, keys.vapid_public_key());
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        verifying.verify(signing_input.as_bytes(), &signature).unwrap();
        let claims = URL_SAFE_NO_PAD.decode(signing_input.split('.').nth(1).unwrap()).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["exp"], 1_900_000_000);
    }
}
