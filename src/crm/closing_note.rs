//! The closing note: the text a rep wrote *for* closing an activity.
//!
//! A device sends back the whole DESCRIPTION: what the activity already said (a prep note, an
//! Outlook/Teams invitation, the server's own instructions) plus, maybe, what the rep added. Only
//! the added part is the report: lines that were in the description before are not new, and lines
//! of invitation boilerplate or of the server's text never count. The rule then asks for a few
//! words (`calendar.min_note_words`), so that "...", "ok" or an unchanged prep note close nothing.

/// The server's own text in a report task: never part of a report.
pub const REPORT_INSTRUCTIONS: &str = "Write what happened and tick this done to close the activity in the CRM.";

/// Lines that start with one of these (compared lower-cased, spaces collapsed) are invitation
/// boilerplate of Outlook/Teams, Zoom, Webex and Google Meet, or the server's own text. Kept short:
/// a pattern here can swallow a line a rep wrote.
const BOILERPLATE_PREFIXES: &[&str] = &[
    // Microsoft Teams / Outlook
    "microsoft teams",
    "join on your computer",
    "join on the web",
    "join with a video conferencing device",
    "click here to join",
    "meeting id",
    "passcode",
    "download teams",
    "learn more",
    "meeting options",
    "need help?",
    "or call in",
    "phone conference id",
    "video conference id",
    "conference id",
    "alternate vtc",
    "find a local number",
    "reset pin",
    "dial-in",
    // Zoom
    "join zoom meeting",
    "one tap mobile",
    "dial by your location",
    "find your local number",
    "join by sip",
    "join by h.323",
    // Webex
    "join webex meeting",
    "join from a video system",
    "join by phone",
    "tap to join from a mobile device",
    "meeting number",
    "meeting password",
    "access code",
    "can't join the meeting",
    // Google Meet / Calendar
    "join with google meet",
    "more phone numbers",
    "pin:",
    "learn more about meet",
    "invitation from google calendar",
    "you are receiving this",
    "forwarding this invitation",
    "view all guest info",
    // crmdav's own text
    "write what happened and tick this done",
];

/// One line as compared: trimmed, inner whitespace collapsed, lower-cased.
fn normalized(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether a line is invitation boilerplate or the server's text (see the module comment).
pub fn is_boilerplate(line: &str) -> bool {
    let line = normalized(line);
    if line.chars().all(|c| c.is_whitespace() || "_-=*~.·•|#".contains(c)) {
        return true;
    }
    if BOILERPLATE_PREFIXES.iter().any(|prefix| line.starts_with(prefix)) {
        return true;
    }
    // A link alone (a join URL, often in <...>; "meet.google.com/abc-defg-hij").
    let bare = line.trim_matches(|c: char| "<>()[]".contains(c));
    if !bare.contains(' ')
        && (bare.contains("://")
            || bare.starts_with("www.")
            || bare.starts_with("mailto:")
            || bare.starts_with("tel:")
            || bare.split('/').next().is_some_and(|host| host.contains('.') && bare.contains('/')))
    {
        return true;
    }
    // A dial-in number ("+1 646 558 8656,,812345# US (New York)"): mostly digits.
    let digits = line.chars().filter(char::is_ascii_digit).count();
    let letters = line.chars().filter(|c| c.is_alphabetic()).count();
    digits >= 7 && digits >= letters
}

/// The part of `after` written since `before`: its lines, in order, that are neither lines of
/// `before` nor boilerplate; a line that begins with a line of `before` keeps only what follows.
/// Lines of `kept` (the note the activity already has) always stay, so that editing a report
/// keeps what it said. Blank lines are dropped.
pub fn new_text(before: &str, after: &str, kept: &str) -> String {
    let old: Vec<String> = before.lines().map(normalized).filter(|l| !l.is_empty()).collect();
    let kept: Vec<String> = kept.lines().map(normalized).filter(|l| !l.is_empty()).collect();
    let mut lines = Vec::new();
    for line in after.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let this = normalized(line);
        if kept.contains(&this) {
            lines.push(line.to_string());
            continue;
        }
        if old.contains(&this) || is_boilerplate(line) {
            continue;
        }
        // "Prep: bring the price list. They ordered 40 units." keeps what was added on the line.
        let prefix = old.iter().filter(|o| this.starts_with(o.as_str())).map(String::len).max();
        let rest = match prefix {
            Some(len) => {
                let chars = this[..len].chars().count();
                line.chars().skip_while(|c| c.is_whitespace()).skip(chars).collect::<String>()
            }
            None => line.to_string(),
        };
        let rest = rest.trim();
        if !rest.is_empty() && !is_boilerplate(rest) {
            lines.push(rest.to_string());
        }
    }
    lines.join("\n")
}

/// Words of a text: runs without whitespace that hold a letter or a digit ("..." is none).
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().filter(|word| word.chars().any(char::is_alphanumeric)).count()
}

/// Whether `note` is enough to close an activity.
pub fn is_enough(note: &str, min_words: usize, min_chars: usize) -> bool {
    word_count(note) >= min_words && note.trim().chars().count() >= min_chars
}

/// The refusal's sentence: what to write, where.
pub fn refusal(subject: &str, min_words: usize, in_task: bool) -> String {
    let what = if subject.trim().is_empty() { "this activity".to_string() } else { format!("'{}'", subject.trim()) };
    let place = if in_task { "the notes of the report task" } else { "the notes (description)" };
    let words = if min_words == 1 { "1 word".to_string() } else { format!("{min_words} words") };
    format!(
        "To close {what}, write at least {words} about how it went in {place}, then mark it done again. \
         The text it already had (a prep note, an invitation) does not count."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAMS: &str = "________________________________________________________________________________\n\
        Microsoft Teams meeting\n\
        Join on your computer, mobile app or room device\n\
        Click here to join the meeting<https://teams.microsoft.com/l/meetup-join/19%3ameeting>\n\
        Meeting ID: 312 456 789 012\n\
        Passcode: aB3cDe\n\
        Download Teams | Join on the web\n\
        Or call in (audio only)\n\
        +49 69 1234 5678,,123456789# Germany, Frankfurt\n\
        Phone Conference ID: 123 456 789#\n\
        Find a local number | Reset PIN\n\
        Learn More | Meeting options\n\
        ________________________________________________________________________________";

    #[test]
    fn an_invitation_body_is_all_boilerplate() {
        assert_eq!(new_text("", TEAMS, ""), "");
        let zoom = "Join Zoom Meeting\nhttps://us02web.zoom.us/j/85512345678?pwd=abc\n\nMeeting ID: 855 1234 5678\n\
            Passcode: 123456\nOne tap mobile\n+16465588656,,85512345678# US (New York)\nDial by your location";
        assert_eq!(new_text("", zoom, ""), "");
        let meet = "Join with Google Meet\nmeet.google.com/abc-defg-hij\nJoin by phone\n(US) +1 505-555-0199 PIN: 123456789#\nMore phone numbers";
        assert_eq!(new_text("", meet, ""), "");
    }

    #[test]
    fn only_what_was_added_counts() {
        let before = "Prep: bring the new price list.";
        assert_eq!(new_text(before, before, ""), "");
        let after = "Prep: bring the new price list.\n\nThey want 40 units by Friday.";
        assert_eq!(new_text(before, after, ""), "They want 40 units by Friday.");
        let same_line = "Prep: bring the new price list. Met the buyer, order follows.";
        assert_eq!(new_text(before, same_line, ""), "Met the buyer, order follows.");
        let with_teams = format!("{TEAMS}\nGood call: two new sites in spring.");
        assert_eq!(new_text(TEAMS, &with_teams, ""), "Good call: two new sites in spring.");
        assert_eq!(new_text(REPORT_INSTRUCTIONS, &format!("{REPORT_INSTRUCTIONS}\nSigned."), ""), "Signed.");
        // Editing a report keeps its lines, though they were in the description before.
        assert_eq!(
            new_text("Prep.\nSigned the deal.", "Prep.\nSigned the deal.\nFix typo", "Signed the deal."),
            "Signed the deal.\nFix typo"
        );
    }

    #[test]
    fn words_are_counted_as_people_count_them() {
        assert_eq!(word_count("..."), 0);
        assert_eq!(word_count("ok"), 1);
        assert_eq!(word_count("Met them - order follows."), 4);
        assert!(!is_enough("...", 3, 3) && !is_enough("ok", 3, 3) && is_enough("Order follows soon", 3, 3));
        assert!(refusal("Renewal call", 3, false).starts_with("To close 'Renewal call', write at least 3 words"));
    }
}
