//! WebDAV-Push (the draft at github.com/bitfireAT/webdav-push, as DAVx5 4.4.10+ speaks it): the
//! properties that advertise push on a collection, the `push-register` body a client subscribes
//! with, and the `push-message` sent to it. Protocol only: keys, topics and storage are the
//! caller's.

use chrono::{DateTime, Utc};

use super::error::XmlError;
use super::multistatus::PropValue;
use super::names::PropName;
use super::tree::{Document, Element};

/// The namespace of every WebDAV-Push element.
pub const NS_PUSH: &str = "https://bitfire.at/webdav-push";

/// The token in the `DAV` header of OPTIONS that says a resource supports WebDAV-Push.
pub const DAV_COMPLIANCE: &str = "webdav-push";

pub fn name(local: &'static str) -> PropName {
    PropName::new(NS_PUSH, local)
}

/// `invalid-subscription`: the body holds no usable subscription (403).
pub fn invalid_subscription() -> PropName {
    name("invalid-subscription")
}

/// `push-not-available`: push is off on this server, or this user may not register (now) (403).
pub fn push_not_available() -> PropName {
    name("push-not-available")
}

/// `no-trigger-supported`: every trigger asked for is one the resource does not support (403).
/// (The draft's text says `no-supported-trigger`; its XML schema defines this name.)
pub fn no_trigger_supported() -> PropName {
    name("no-trigger-supported")
}

/// The push properties of a collection that notifies content updates of its members (depth 1):
/// the Web Push transport with the server's VAPID public key (uncompressed P-256, base64url), and
/// the collection's topic. Live properties, cheap to compute, so they are in allprop too.
pub fn properties(vapid_public_key: &str, topic: &str) -> Vec<(PropName, PropValue)> {
    debug_assert!(is_base64url(vapid_public_key) && is_base64url(topic));
    vec![
        (
            name("transports"),
            // Children without a prefix are in the default namespace the writer declares on
            // `transports` (WebDAV-Push's); `d:` is declared on the multistatus root.
            PropValue::Raw(format!(
                "<web-push><vapid-public-key type=\"p256ecdsa\">{vapid_public_key}</vapid-public-key></web-push>"
            )),
        ),
        (name("topic"), PropValue::Text(topic.to_string())),
        (name("supported-triggers"), PropValue::Raw("<content-update><d:depth>1</d:depth></content-update>".into())),
    ]
}

/// The body of a push message about a content update of the collection `topic`, whose sync-token
/// is now `sync_token` (a client that already has it can skip its sync).
pub fn content_update_message(topic: &str, sync_token: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<push-message xmlns=\"{NS_PUSH}\" xmlns:D=\"DAV:\">\
         <topic>{}</topic><content-update><D:sync-token>{}</D:sync-token></content-update></push-message>",
        escape(topic),
        escape(sync_token)
    )
}

/// A `push-register` body, read and checked: a Web Push subscription with its message
/// encryption keys, for content updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The push resource (absolute URI) messages are POSTed to, as sent (trimmed).
    pub push_resource: String,
    /// The user agent's P-256 public key (`p256dh`), base64url as sent (trimmed).
    pub public_key: String,
    /// The authentication secret, base64url as sent (trimmed).
    pub auth_secret: String,
    /// The expiry the client asks for; None when absent or not an HTTP date (the server's default).
    pub expires: Option<DateTime<Utc>>,
}

impl Registration {
    /// Reads a `push-register` body. A body that is not XML, or has another root, is an error
    /// without precondition (400); a subscription the server cannot use is `invalid-subscription`,
    /// and triggers of which none is supported `no-trigger-supported` (403).
    ///
    /// Lenient where clients differ: DAVx5 sends no `trigger` (content updates are meant, the only
    /// trigger served) and no `content-encoding` (aes128gcm, the only one defined).
    pub fn parse(body: &[u8]) -> Result<Registration, XmlError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(XmlError::new("POST on a collection takes a WebDAV-Push push-register body"));
        }
        let document = Document::parse(body)?;
        let root = document.expect_root(NS_PUSH, "push-register")?;
        let invalid = |message: &str| XmlError::with_precondition(invalid_subscription(), message);
        let subscription = single(root, "subscription").map_err(|m| invalid(&m))?;
        let web_push = match subscription.child(NS_PUSH, "web-push-subscription") {
            Some(web_push) => web_push,
            None => {
                return Err(invalid("the subscription must be a web-push-subscription (the only transport served)"));
            }
        };
        let push_resource = single(web_push, "push-resource").map_err(|m| invalid(&m))?.text().trim().to_string();
        if push_resource.is_empty() {
            return Err(invalid("push-resource is empty"));
        }
        if let Some(encoding) = web_push.child(NS_PUSH, "content-encoding") {
            let encoding = encoding.text();
            if encoding.trim() != "aes128gcm" {
                return Err(invalid(&format!(
                    "content-encoding {:?} is not supported: use aes128gcm (RFC 8291)",
                    encoding.trim()
                )));
            }
        }
        let key = web_push.child(NS_PUSH, "subscription-public-key").ok_or_else(|| {
            invalid("subscription-public-key is required: push messages are always encrypted (RFC 8291)")
        })?;
        if let Some(kind) = key.attribute("type").filter(|kind| *kind != "p256dh") {
            return Err(invalid(&format!("subscription-public-key of type {kind:?} is not supported: use p256dh")));
        }
        let public_key = key.text().trim().to_string();
        let auth_secret = web_push
            .child(NS_PUSH, "auth-secret")
            .map(|secret| secret.text().trim().to_string())
            .ok_or_else(|| invalid("auth-secret is required: push messages are always encrypted (RFC 8291)"))?;
        if let Some(trigger) = root.child(NS_PUSH, "trigger")
            && trigger.child(NS_PUSH, "content-update").is_none()
        {
            return Err(XmlError::with_precondition(
                no_trigger_supported(),
                "only content-update triggers are supported here (property updates are not notified)",
            ));
        }
        let expires = root.child(NS_PUSH, "expires").and_then(|e| parse_http_date(e.text().trim()));
        Ok(Registration { push_resource, public_key, auth_secret, expires })
    }
}

/// The one child `{push}local` of `parent`, or why not.
fn single<'a>(parent: &'a Element, local: &'static str) -> Result<&'a Element, String> {
    let mut found = parent.children_named(NS_PUSH, local);
    match (found.next(), found.next()) {
        (Some(element), None) => Ok(element),
        (None, _) => Err(format!("{local} is missing from {}", parent.name)),
        (Some(_), Some(_)) => Err(format!("{} holds more than one {local}", parent.name)),
    }
}

/// An HTTP date (IMF-fixdate, RFC 9110 5.6.7; its obsolete forms are not expected from clients).
pub fn parse_http_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text).ok().map(|t| t.with_timezone(&Utc))
}

/// `t` as an IMF-fixdate, for the `Expires` header.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn is_base64url(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAVX5: &str = r#"<?xml version='1.0' encoding='UTF-8' ?><push-register xmlns="https://bitfire.at/webdav-push"><subscription><web-push-subscription><push-resource>https://up.example.net/yohd4yai5Phiz1wi</push-resource><subscription-public-key type="p256dh">BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4</subscription-public-key><auth-secret>BTBZMqHH6r4Tts7J_aSIgg</auth-secret></web-push-subscription></subscription><expires>Wed, 20 Dec 2023 10:03:31 GMT</expires></push-register>"#;

    #[test]
    fn reads_what_davx5_sends() {
        let registration = Registration::parse(DAVX5.as_bytes()).unwrap();
        assert_eq!(registration.push_resource, "https://up.example.net/yohd4yai5Phiz1wi");
        assert_eq!(registration.auth_secret, "BTBZMqHH6r4Tts7J_aSIgg");
        assert!(registration.public_key.starts_with("BCVxsr7N"));
        assert_eq!(registration.expires.map(http_date).as_deref(), Some("Wed, 20 Dec 2023 10:03:31 GMT"));
    }

    #[test]
    fn reads_the_drafts_sample_with_prefixes_and_triggers() {
        let body = r#"<P:push-register xmlns:P="https://bitfire.at/webdav-push" xmlns:D="DAV:">
  <P:subscription><P:web-push-subscription>
      <P:push-resource> https://up.example.net/x </P:push-resource>
      <P:content-encoding>aes128gcm</P:content-encoding>
      <P:subscription-public-key type="p256dh">BCVx</P:subscription-public-key>
      <P:auth-secret>BTBZ</P:auth-secret>
  </P:web-push-subscription></P:subscription>
  <P:trigger>
    <P:content-update><D:depth>infinity</D:depth></P:content-update>
    <P:property-update><D:depth>0</D:depth><D:prop><D:displayname/></D:prop></P:property-update>
  </P:trigger>
  <P:expires>not a date</P:expires>
</P:push-register>"#;
        let registration = Registration::parse(body.as_bytes()).unwrap();
        assert_eq!(registration.push_resource, "https://up.example.net/x");
        assert_eq!(registration.expires, None);
    }

    fn refusal(body: &str) -> XmlError {
        Registration::parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn refuses_what_cannot_be_used() {
        assert_eq!(refusal("").precondition, None);
        assert_eq!(refusal("<push-register").precondition, None);
        assert_eq!(refusal(r#"<propfind xmlns="DAV:"/>"#).precondition, None);
        let without_keys = DAVX5.replace("<auth-secret>BTBZMqHH6r4Tts7J_aSIgg</auth-secret>", "");
        assert_eq!(refusal(&without_keys).precondition, Some(invalid_subscription()));
        let no_resource = DAVX5.replace("https://up.example.net/yohd4yai5Phiz1wi", " ");
        assert_eq!(refusal(&no_resource).precondition, Some(invalid_subscription()));
        let other_key = DAVX5.replace("type=\"p256dh\"", "type=\"x25519\"");
        assert_eq!(refusal(&other_key).precondition, Some(invalid_subscription()));
        let aesgcm = DAVX5.replace("<push-resource>", "<content-encoding>aesgcm</content-encoding><push-resource>");
        assert_eq!(refusal(&aesgcm).precondition, Some(invalid_subscription()));
        let no_subscription = DAVX5.replace("web-push-subscription", "other-subscription");
        assert_eq!(refusal(&no_subscription).precondition, Some(invalid_subscription()));
        let properties_only = DAVX5.replace(
            "<expires>",
            "<trigger><property-update><depth xmlns=\"DAV:\">0</depth></property-update></trigger><expires>",
        );
        assert_eq!(refusal(&properties_only).precondition, Some(no_trigger_supported()));
    }

    #[test]
    fn message_and_properties() {
        let message = content_update_message("T0p1c", "urn:crmdav:sync:cards-1/5");
        assert!(message.contains("<topic>T0p1c</topic>"));
        assert!(message.contains("<D:sync-token>urn:crmdav:sync:cards-1/5</D:sync-token>"));
        let props = properties("BKey", "T0p1c");
        assert_eq!(props.len(), 3);
        assert!(props.iter().all(|(name, _)| name.ns == NS_PUSH));
    }
}
