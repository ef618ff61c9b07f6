//! Apple configuration profiles (`.mobileconfig`): one CalDAV and one CardDAV account with an app
//! token of their own, so that an iPhone or a Mac is set up in one tap. Written with the `plist`
//! crate; the payload keys are those of Apple's Configuration Profile Reference.

use serde::Serialize;

/// Where and as whom the device connects.
pub struct Account<'a> {
    /// `https://host[:port]` (or `http://` on a loopback test server).
    pub base: &'a str,
    pub login: &'a str,
    pub token: &'a str,
    /// The device the token was made for (its label), shown in the profile's name.
    pub device: &'a str,
}

#[derive(Serialize)]
struct Profile {
    #[serde(rename = "PayloadContent")]
    content: Vec<Payload>,
    #[serde(rename = "PayloadDisplayName")]
    display_name: String,
    #[serde(rename = "PayloadDescription")]
    description: String,
    #[serde(rename = "PayloadIdentifier")]
    identifier: String,
    #[serde(rename = "PayloadOrganization")]
    organization: &'static str,
    #[serde(rename = "PayloadType")]
    kind: &'static str,
    #[serde(rename = "PayloadUUID")]
    uuid: String,
    #[serde(rename = "PayloadVersion")]
    version: u32,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Payload {
    CalDav(CalDav),
    CardDav(CardDav),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Common {
    payload_type: &'static str,
    payload_version: u32,
    payload_identifier: String,
    #[serde(rename = "PayloadUUID")]
    payload_uuid: String,
    payload_display_name: String,
}

#[derive(Serialize)]
struct CalDav {
    #[serde(flatten)]
    common: Common,
    #[serde(rename = "CalDAVAccountDescription")]
    description: String,
    #[serde(rename = "CalDAVHostName")]
    host: String,
    #[serde(rename = "CalDAVPort")]
    port: u16,
    #[serde(rename = "CalDAVUseSSL")]
    ssl: bool,
    #[serde(rename = "CalDAVPrincipalURL")]
    principal: String,
    #[serde(rename = "CalDAVUsername")]
    username: String,
    #[serde(rename = "CalDAVPassword")]
    password: String,
}

#[derive(Serialize)]
struct CardDav {
    #[serde(flatten)]
    common: Common,
    #[serde(rename = "CardDAVAccountDescription")]
    description: String,
    #[serde(rename = "CardDAVHostName")]
    host: String,
    #[serde(rename = "CardDAVPort")]
    port: u16,
    #[serde(rename = "CardDAVUseSSL")]
    ssl: bool,
    #[serde(rename = "CardDAVPrincipalURL")]
    principal: String,
    #[serde(rename = "CardDAVUsername")]
    username: String,
    #[serde(rename = "CardDAVPassword")]
    password: String,
}

/// (host, port, TLS) of a base URL.
fn endpoint(base: &str) -> (String, u16, bool) {
    let ssl = base.starts_with("https://");
    let host_port = base.split_once("://").map_or(base, |(_, rest)| rest).trim_end_matches('/');
    let default_port = if ssl { 443 } else { 80 };
    // An IPv6 literal keeps its brackets; the port is after the last ':' outside them.
    match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => match port.parse() {
            Ok(port) => (host.to_string(), port, ssl),
            Err(_) => (host_port.to_string(), default_port, ssl),
        },
        _ => (host_port.to_string(), default_port, ssl),
    }
}

/// The profile as an XML property list.
pub fn mobileconfig(account: &Account<'_>) -> anyhow::Result<Vec<u8>> {
    let (host, port, ssl) = endpoint(account.base);
    let principal = format!("{}/dav/principals/{}/", account.base.trim_end_matches('/'), account.login);
    let id = format!("crmdav.{}.{}", host.replace([':', '[', ']'], "-"), account.login);
    let uuid = || uuid::Uuid::new_v4().to_string().to_uppercase();
    let common = |kind: &'static str, suffix: &str, name: &str| Common {
        payload_type: kind,
        payload_version: 1,
        payload_identifier: format!("{id}.{suffix}.{}", uuid()),
        payload_uuid: uuid(),
        payload_display_name: name.to_string(),
    };
    let profile = Profile {
        content: vec![
            Payload::CalDav(CalDav {
                common: common("com.apple.caldav.account", "caldav", "CRM calendar"),
                description: format!("CRM activities ({})", account.login),
                host: host.clone(),
                port,
                ssl,
                principal: principal.clone(),
                username: account.login.to_string(),
                password: account.token.to_string(),
            }),
            Payload::CardDav(CardDav {
                common: common("com.apple.carddav.account", "carddav", "CRM contacts"),
                description: format!("CRM clients ({})", account.login),
                host,
                port,
                ssl,
                principal,
                username: account.login.to_string(),
                password: account.token.to_string(),
            }),
        ],
        display_name: format!("CRM for {} ({})", account.login, account.device),
        description: "Your CRM clients as contacts and your activities as calendars and tasks.".into(),
        identifier: format!("{id}.{}", uuid()),
        organization: "crmdav",
        kind: "Configuration",
        uuid: uuid(),
        version: 1,
    };
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, &profile)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_of_base_urls() {
        assert_eq!(endpoint("https://crm.example.com"), ("crm.example.com".into(), 443, true));
        assert_eq!(endpoint("http://127.0.0.1:8080/"), ("127.0.0.1".into(), 8080, false));
        assert_eq!(endpoint("https://[::1]:8443"), ("[::1]".into(), 8443, true));
        assert_eq!(endpoint("https://[::1]"), ("[::1]".into(), 443, true));
    }

    #[test]
    fn profile_has_both_accounts_with_the_token() {
        let account = Account { base: "https://crm.example.com", login: "alice", token: "crmdav_x", device: "iPhone" };
        let bytes = mobileconfig(&account).unwrap();
        let value = plist::Value::from_reader_xml(bytes.as_slice()).unwrap();
        let dict = value.as_dictionary().unwrap();
        assert_eq!(dict.get("PayloadType").and_then(plist::Value::as_string), Some("Configuration"));
        let payloads = dict.get("PayloadContent").and_then(plist::Value::as_array).unwrap();
        let kinds: Vec<&str> = payloads
            .iter()
            .map(|p| p.as_dictionary().unwrap().get("PayloadType").unwrap().as_string().unwrap())
            .collect();
        assert_eq!(kinds, ["com.apple.caldav.account", "com.apple.carddav.account"]);
        let caldav = payloads[0].as_dictionary().unwrap();
        assert_eq!(caldav.get("CalDAVPassword").and_then(plist::Value::as_string), Some("crmdav_x"));
        assert_eq!(caldav.get("CalDAVUseSSL").and_then(plist::Value::as_boolean), Some(true));
        assert_eq!(
            caldav.get("CalDAVPrincipalURL").and_then(plist::Value::as_string),
            Some("https://crm.example.com/dav/principals/alice/")
        );
    }
}
