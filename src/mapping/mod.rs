//! CRM <-> vCard and CRM <-> iCalendar. Lossless for what the CRM does not model: such properties
//! are kept as the device sent them and returned unchanged.

pub mod ical;
pub mod vcard;
