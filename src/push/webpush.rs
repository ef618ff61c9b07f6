//! Sending one Web Push message (RFC 8030 5): the payload encrypted for the subscription
//! (RFC 8291, aes128gcm, by `web-push-native`), a VAPID `Authorization` (RFC 8292), and what the
//! push service's answer means for the subscription.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};
use reqwest::Url;

use super::keys::Keys;
use super::target;

/// Validity of a VAPID token (RFC 8292 2: at most 24 hours).
const VAPID_VALIDITY: Duration = Duration::from_secs(12 * 3600);

/// A subscription's message-encryption keys (RFC 8291 2), decoded and checked.
pub struct UserAgentKeys {
    public: p256::PublicKey,
    auth: web_push_native::Auth,
}

impl UserAgentKeys {
    /// Reads the `p256dh` key (an uncompressed P-256 point) and the 16-byte auth secret, base64url
    /// (padding and the standard alphabet tolerated), or says what is wrong with them.
    pub fn decode(public_key: &str, auth_secret: &str) -> Result<UserAgentKeys, String> {
        let public = decode_base64url(public_key).ok_or("subscription-public-key is not base64url")?;
        if public.len() != 65 || public[0] != 4 {
            return Err("subscription-public-key must be an uncompressed P-256 point (65 bytes)".into());
        }
        let public = p256::PublicKey::from_sec1_bytes(&public)
            .map_err(|_| "subscription-public-key is not a point of P-256".to_string())?;
        let auth = decode_base64url(auth_secret).ok_or("auth-secret is not base64url")?;
        if auth.len() != 16 {
            return Err(format!("auth-secret must be 16 bytes, not {}", auth.len()));
        }
        Ok(UserAgentKeys { public, auth: web_push_native::Auth::clone_from_slice(&auth) })
    }
}

/// `text` in base64url without padding, as stored.
pub fn normalize_base64url(text: &str) -> Option<String> {
    decode_base64url(text).map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    let text: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| {
            if c == '+' {
                '-'
            } else if c == '/' {
                '_'
            } else {
                c
            }
        })
        .collect();
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// One message for one subscription.
pub struct Message<'a> {
    pub push_resource: &'a str,
    pub keys: &'a UserAgentKeys,
    /// The plaintext (a WebDAV-Push `push-message`).
    pub body: &'a str,
    /// The `Topic` header: a newer message of the same topic replaces one still undelivered.
    pub topic: &'a str,
    pub ttl_secs: u64,
}

/// What became of a push.
#[derive(Debug)]
pub enum Outcome {
    /// The push service took it (201).
    Delivered,
    /// The subscription is gone (404, 410): to be deleted.
    Gone(StatusCode),
    /// Refused for good (another 4xx: a key the service does not know, a payload it refuses...).
    Refused(String),
    /// Not delivered now (network, 429, 5xx): may be tried again later.
    Failed(String),
}

/// Encrypts and POSTs `message` to its push resource.
pub async fn send(
    client: &reqwest::Client,
    server: &Keys,
    contact: &str,
    allow_insecure_loopback: bool,
    message: Message<'_>,
) -> Outcome {
    // Checked again at each push: the rules may have tightened since the registration.
    let url = match target::check(message.push_resource, allow_insecure_loopback) {
        Ok(url) => url,
        Err(reason) => return Outcome::Refused(reason),
    };
    let payload =
        match web_push_native::encrypt(message.body.as_bytes().to_vec(), &message.keys.public, &message.keys.auth) {
            Ok(payload) => payload,
            Err(e) => return Outcome::Refused(format!("cannot encrypt the push message: {e}")),
        };
    let expires = chrono::Utc::now().timestamp() + VAPID_VALIDITY.as_secs() as i64;
    let authorization = server.vapid_authorization(&audience(&url), contact, expires);
    let request = client
        .post(url)
        .header("TTL", message.ttl_secs.to_string())
        .header("Urgency", "normal")
        .header("Topic", message.topic)
        .header(header::CONTENT_ENCODING, "aes128gcm")
        // The encrypted representation of an application/xml push-message (the draft's media type).
        .header(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=\"UTF-8\""))
        .header(header::AUTHORIZATION, authorization)
        .body(payload);
    match request.send().await {
        Ok(response) => outcome(response.status()),
        Err(e) => Outcome::Failed(format!("push service unreachable: {e}")),
    }
}

fn outcome(status: StatusCode) -> Outcome {
    match status {
        s if s.is_success() => Outcome::Delivered,
        StatusCode::NOT_FOUND | StatusCode::GONE => Outcome::Gone(status),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            Outcome::Failed(format!("push service answered {status}"))
        }
        s if s.is_server_error() => Outcome::Failed(format!("push service answered {status}")),
        s => Outcome::Refused(format!("push service answered {s}")),
    }
}

/// The `aud` of a VAPID token: the origin of the push resource (RFC 8292 2).
fn audience(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The client pushes are sent with: timeouts, no redirects (a redirect could lead inside), no
/// proxy from the environment, and a resolver that keeps only public addresses.
pub fn client(allow_insecure_loopback: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("crmdav/", env!("CARGO_PKG_VERSION"), " (WebDAV-Push)"))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(!allow_insecure_loopback)
        .dns_resolver(std::sync::Arc::new(target::GuardedResolver { allow_insecure_loopback }))
        .build()
        .expect("the push HTTP client builds with its static settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_keys_are_checked() {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let public = {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes())
        };
        let auth = URL_SAFE_NO_PAD.encode([1u8; 16]);
        assert!(UserAgentKeys::decode(&public, &auth).is_ok());
        // Padded, standard alphabet: accepted.
        let padded = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert!(UserAgentKeys::decode(&public, &padded).is_ok());
        assert!(UserAgentKeys::decode(&public, "AAAA").is_err());
        assert!(UserAgentKeys::decode("BCVx", &auth).is_err());
        assert!(UserAgentKeys::decode(&public[..public.len() - 2], &auth).is_err());
    }

    #[test]
    fn answers_of_push_services() {
        assert!(matches!(outcome(StatusCode::CREATED), Outcome::Delivered));
        assert!(matches!(outcome(StatusCode::GONE), Outcome::Gone(_)));
        assert!(matches!(outcome(StatusCode::NOT_FOUND), Outcome::Gone(_)));
        assert!(matches!(outcome(StatusCode::TOO_MANY_REQUESTS), Outcome::Failed(_)));
        assert!(matches!(outcome(StatusCode::BAD_GATEWAY), Outcome::Failed(_)));
        assert!(matches!(outcome(StatusCode::FORBIDDEN), Outcome::Refused(_)));
        let url = Url::parse("https://up.example.net:8443/a/b").unwrap();
        assert_eq!(audience(&url), "https://up.example.net:8443");
        assert_eq!(audience(&Url::parse("https://up.example.net/a").unwrap()), "https://up.example.net");
    }
}
