//! What the server adds to an activity's object so that a rep's calendar app shows which client it
//! is about, in the fields every app displays; and how those additions are recognised and taken
//! off again when a device writes the object back (never stored twice, never taken for a note).
//!
//! Layout (tried against the fixtures of iOS, DAVx5 + Etar / Google Calendar, Thunderbird and
//! Outlook via CalDav Synchronizer; see README "What a rep's calendar shows"):
//! - SUMMARY: `Renewal call · Meridian Logistics AG`. Every app shows the title; a title renamed
//!   on a phone keeps or drops the suffix, and either way renames the activity.
//! - LOCATION of a visit without a place of its own: the client's address, one line, so that maps
//!   can route to it.
//! - DESCRIPTION: the activity's text, then a block starting with the line [`BLOCK_MARK`] that
//!   names the client, its phone and the contact person with phone and email (every app shows the
//!   description; few show CONTACT).
//! - CONTACT (RFC 5545 3.8.4.2): the contact person, for the apps that show it; URL: the client's
//!   website.

/// The client (and contact person) an activity is about, as its object shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientShown {
    pub code: String,
    pub name: String,
    /// One line: street, postal code and city, country; "" when the CRM has no address.
    pub address: String,
    pub phone: String,
    pub website: String,
    pub contact: Option<ContactShown>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactShown {
    pub name: String,
    pub title: String,
    pub phone: String,
    pub email: String,
}

/// Separates the title from the client's name.
pub const TITLE_SEPARATOR: &str = " · ";
/// The line that starts the server's block at the end of DESCRIPTION.
pub const BLOCK_MARK: &str = "— CRM —";

/// The title an app shows: the subject, then the client's name.
pub fn summary(subject: &str, client: Option<&ClientShown>) -> String {
    let subject = subject.trim();
    match client.map(|c| c.name.trim()).filter(|name| !name.is_empty()) {
        Some(name) if subject.is_empty() => name.to_owned(),
        Some(name) => format!("{subject}{TITLE_SEPARATOR}{name}"),
        None => subject.to_owned(),
    }
}

/// The subject in a title a device sent back: without the client's name the server appended
/// (any of `names`: the name the object was rendered with, and the client's name now).
pub fn strip_summary(summary: &str, names: &[&str]) -> String {
    let summary = summary.trim();
    for name in names.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
        if let Some(subject) = summary.strip_suffix(name).and_then(|rest| rest.trim_end().strip_suffix('·')) {
            return subject.trim_end().to_owned();
        }
        if summary == name {
            return String::new();
        }
    }
    summary.to_owned()
}

/// The place an app shows: the activity's own, else for a visit the client's address.
pub fn location(own: &str, kind: &str, client: Option<&ClientShown>) -> String {
    let own = own.trim();
    match client {
        Some(client) if own.is_empty() && kind == "visit" => client.address.trim().to_owned(),
        _ => own.to_owned(),
    }
}

/// The place a device sent back, in CRM terms: the client's address the server filled in is no
/// place of the activity's own.
pub fn strip_location(location: &str, client_address: Option<&str>) -> String {
    let location = location.trim();
    match client_address.map(str::trim) {
        Some(address) if !address.is_empty() && location == address => String::new(),
        _ => location.to_owned(),
    }
}

/// The description an app shows: the activity's text, then the server's block about the client.
pub fn description(text: &str, client: Option<&ClientShown>) -> String {
    let text = text.trim();
    // A client without a name has nothing to show.
    let Some(client) = client.filter(|client| !client.name.trim().is_empty()) else {
        return text.to_owned();
    };
    let mut block = vec![BLOCK_MARK.to_owned(), format!("Client: {} ({})", client.name.trim(), client.code.trim())];
    if !client.address.trim().is_empty() {
        block.push(format!("Address: {}", client.address.trim()));
    }
    if !client.phone.trim().is_empty() {
        block.push(format!("Phone: {}", client.phone.trim()));
    }
    if let Some(contact) = &client.contact {
        block.push(format!("Contact: {}", contact_line(contact)));
    }
    let block = block.join("\n");
    if text.is_empty() { block } else { format!("{text}\n\n{block}") }
}

/// The text of a description a device sent back, without the server's block (and whatever a
/// device appended after it, which belongs to the block's place at the end).
pub fn strip_description(description: &str) -> String {
    let lines: Vec<&str> = description.lines().collect();
    match lines.iter().position(|line| is_block_mark(line)) {
        Some(mark) => lines[..mark].join("\n").trim().to_owned(),
        None => description.trim().to_owned(),
    }
}

fn is_block_mark(line: &str) -> bool {
    let line = line.trim();
    line == BLOCK_MARK || line == "-- CRM --"
}

/// "Jane Doe, Head of purchasing · +41 44 123 45 67 · jane@example.com".
pub fn contact_line(contact: &ContactShown) -> String {
    let mut who = contact.name.trim().to_owned();
    if !contact.title.trim().is_empty() {
        who = format!("{who}, {}", contact.title.trim());
    }
    [who.as_str(), contact.phone.trim(), contact.email.trim()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(TITLE_SEPARATOR)
}

/// One line of an address: "Bahnhofstrasse 1, 8001 Zürich, Switzerland".
pub fn address_line(street: &str, postal_code: &str, city: &str, country: &str) -> String {
    let town = [postal_code.trim(), city.trim()].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    [street.trim(), town.as_str(), country.trim()].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meridian() -> ClientShown {
        ClientShown {
            code: "C-1001".into(),
            name: "Meridian Logistics AG".into(),
            address: address_line("Bahnhofstrasse 1", "8001", "Zürich", "Switzerland"),
            phone: "+41 44 000 00 00".into(),
            website: "https://meridian.example".into(),
            contact: Some(ContactShown {
                name: "Jane Doe".into(),
                title: "Head of purchasing".into(),
                phone: "+41 44 123 45 67".into(),
                email: "jane@meridian.example".into(),
            }),
        }
    }

    #[test]
    fn the_title_names_the_client_and_a_renamed_title_loses_only_that() {
        let client = meridian();
        let title = summary("Renewal call", Some(&client));
        assert_eq!(title, "Renewal call · Meridian Logistics AG");
        assert_eq!(strip_summary(&title, &[&client.name]), "Renewal call");
        assert_eq!(
            strip_summary("Renewal call (moved) · Meridian Logistics AG", &[&client.name]),
            "Renewal call (moved)"
        );
        assert_eq!(strip_summary("Renewal call moved", &[&client.name]), "Renewal call moved");
        assert_eq!(strip_summary("Call · Old Name", &["", "Old Name", &client.name]), "Call");
        assert_eq!(summary("Call", None), "Call");
    }

    #[test]
    fn visits_without_a_place_go_to_the_client() {
        let client = meridian();
        assert_eq!(location("", "visit", Some(&client)), "Bahnhofstrasse 1, 8001 Zürich, Switzerland");
        assert_eq!(location("Trade fair hall 3", "visit", Some(&client)), "Trade fair hall 3");
        assert_eq!(location("", "call", Some(&client)), "");
        assert_eq!(strip_location("Bahnhofstrasse 1, 8001 Zürich, Switzerland", Some(&client.address)), "");
        assert_eq!(strip_location("Hall 3", Some(&client.address)), "Hall 3");
    }

    #[test]
    fn the_block_is_added_after_the_text_and_taken_off_again() {
        let client = meridian();
        let text = description("Bring the price list.", Some(&client));
        assert!(text.starts_with("Bring the price list.\n\n— CRM —\nClient: Meridian Logistics AG (C-1001)"), "{text}");
        assert!(text.contains("Contact: Jane Doe, Head of purchasing · +41 44 123 45 67 · jane@meridian.example"));
        assert_eq!(strip_description(&text), "Bring the price list.");
        assert_eq!(strip_description(&description("", Some(&client))), "");
        // An app that turned line ends into CRLF, or a rep who wrote above the block.
        let edited = format!("It went well, order next week.\r\n\r\n{}", text.replace('\n', "\r\n"));
        assert_eq!(strip_description(&edited), "It went well, order next week.\n\nBring the price list.");
    }
}
