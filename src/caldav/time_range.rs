//! RFC 4791 9.9: whether one recurrence instance meets a requested time range.

use chrono::{DateTime, Utc};

use crate::dav::filter::TimeRange;
use crate::mapping::ical::recurrence::Span;

impl Span {
    /// Open bounds of the range are infinitely far.
    pub(crate) fn overlaps(&self, range: &TimeRange) -> bool {
        let range_starts_before = |t: DateTime<Utc>| range.start.is_none_or(|start| start < t);
        let range_starts_by = |t: DateTime<Utc>| range.start.is_none_or(|start| start <= t);
        let range_ends_after = |t: DateTime<Utc>| range.end.is_none_or(|end| end > t);
        let range_ends_by_or_after = |t: DateTime<Utc>| range.end.is_none_or(|end| end >= t);
        match *self {
            Span::Interval { start, end } => range_starts_before(end) && range_ends_after(start),
            Span::Instant(at) => range_starts_by(at) && range_ends_after(at),
            Span::TodoDue { start: Some(start), due } => {
                (range_starts_before(due) || range_starts_by(start))
                    && (range_ends_after(start) || range_ends_by_or_after(due))
            }
            Span::TodoDue { start: None, due } => range_starts_before(due) && range_ends_by_or_after(due),
            Span::TodoDuration { start, end } => {
                range_starts_by(end) && (range_ends_after(start) || range_ends_by_or_after(end))
            }
            Span::TodoUndated { completed: Some(completed), created: Some(created) } => {
                (range_starts_by(created) || range_starts_by(completed))
                    && (range_ends_by_or_after(created) || range_ends_by_or_after(completed))
            }
            Span::TodoUndated { completed: Some(completed), created: None } => {
                range_starts_by(completed) && range_ends_by_or_after(completed)
            }
            Span::TodoUndated { completed: None, created: Some(created) } => range_ends_after(created),
            Span::TodoUndated { completed: None, created: None } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::test_support::{range, utc};

    #[test]
    fn instants_and_intervals_at_range_edges() {
        let at = utc(2024, 3, 1, 10, 0);
        let instant = Span::Instant(at);
        assert!(instant.overlaps(&range(at, utc(2024, 3, 1, 11, 0))));
        assert!(!instant.overlaps(&range(utc(2024, 3, 1, 9, 0), at)));
        let interval = Span::Interval { start: at, end: utc(2024, 3, 1, 11, 0) };
        assert!(!interval.overlaps(&range(utc(2024, 3, 1, 11, 0), utc(2024, 3, 1, 12, 0))));
        assert!(!interval.overlaps(&range(utc(2024, 3, 1, 9, 0), at)));
        assert!(interval.overlaps(&TimeRange { start: None, end: Some(utc(2024, 3, 1, 10, 1)) }));
    }
}
