//! The text of recently refreshed collections, kept in memory.
//!
//! A client's first sync lists a collection, then fetches all of it with multigets. Reading
//! thousands of stored texts back through the database costs most of such a multiget, although
//! the refresh that preceded it had every text in hand. So a refresh leaves its members here,
//! tagged with the change sequence they reflect; a read uses them only while that sequence is
//! still the database's newest, which holds for every process sharing the database (a change by
//! any of them, or by plain SQL, moves the sequence). Its texts are of this process's render
//! versions (rendered here, or read back only while the stored version is the code's), and a
//! re-render that changes a text moves the sequence too (`sync::record`). The cache is bounded:
//! least recently used collections leave first, and a collection larger than the whole budget is
//! never kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::sync::Member;

/// The memory the cached texts may take in all. Two collections of the size the benchmark uses
/// (5,000 cards, 20,000 events) fit; the server's memory target is 100 MB.
pub const BUDGET_BYTES: usize = 40 * 1024 * 1024;

#[derive(Debug)]
pub struct MemberCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each kept collection, with its last use (a tick of `clock`), for eviction.
    collections: HashMap<String, (Arc<Snapshot>, u64)>,
    clock: u64,
    bytes: usize,
}

/// A collection's members (ETag and text by href) as of one change sequence.
#[derive(Debug)]
pub struct Snapshot {
    seq: i64,
    bytes: usize,
    members: HashMap<String, (String, String)>,
}

impl Snapshot {
    /// The ETag and text of the member at `href`.
    pub fn member(&self, href: &str) -> Option<(&str, &str)> {
        self.members.get(href).map(|(etag, body)| (etag.as_str(), body.as_str()))
    }
}

impl MemberCache {
    pub fn new(budget: usize) -> Self {
        Self { budget, inner: Mutex::new(Inner::default()) }
    }

    /// Keeps `members`, the whole of `collection` as of change `seq`.
    pub fn put(&self, collection: &str, seq: i64, members: Vec<Member>) {
        let bytes: usize = members.iter().map(|m| m.href.len() + m.etag.len() + m.body.len() + 64).sum();
        let mut inner = self.inner.lock().expect("member cache lock");
        inner.remove(collection);
        if bytes > self.budget {
            return;
        }
        while inner.bytes + bytes > self.budget {
            let Some(oldest) = inner.collections.iter().min_by_key(|(_, (_, used))| *used).map(|(key, _)| key.clone())
            else {
                break;
            };
            inner.remove(&oldest);
        }
        let members = members.into_iter().map(|m| (m.href, (m.etag, m.body))).collect();
        inner.bytes += bytes;
        let used = inner.tick();
        inner.collections.insert(collection.to_string(), (Arc::new(Snapshot { seq, bytes, members }), used));
    }

    /// Drops what is kept of `collection` (its members changed).
    pub fn forget(&self, collection: &str) {
        self.inner.lock().expect("member cache lock").remove(collection);
    }

    /// The members of `collection` as of exactly change `seq`, if they are kept; `None` otherwise.
    /// Shared, not copied: a multiget writes its answer straight from them.
    pub fn snapshot(&self, collection: &str, seq: i64) -> Option<Arc<Snapshot>> {
        let mut inner = self.inner.lock().expect("member cache lock");
        let used = inner.tick();
        let (snapshot, last_used) = inner.collections.get_mut(collection).filter(|(s, _)| s.seq == seq)?;
        *last_used = used;
        Some(snapshot.clone())
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.inner.lock().expect("member cache lock").bytes
    }
}

impl Inner {
    fn remove(&mut self, collection: &str) {
        if let Some((snapshot, _)) = self.collections.remove(collection) {
            self.bytes -= snapshot.bytes;
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(href: &str, body: &str) -> Member {
        Member { href: href.into(), etag: format!("\"{href}\""), body: body.into(), source: 1 }
    }

    #[test]
    fn serves_only_the_sequence_it_was_filled_at() {
        let cache = MemberCache::new(1 << 20);
        cache.put("cards:1", 7, vec![member("a.vcf", "A"), member("b.vcf", "B")]);
        let hit = cache.snapshot("cards:1", 7).unwrap();
        assert_eq!(hit.member("b.vcf"), Some(("\"b.vcf\"", "B")));
        assert_eq!(hit.member("gone.vcf"), None);
        assert!(cache.snapshot("cards:1", 8).is_none(), "the CRM changed since: not served");
        assert!(cache.snapshot("cards:2", 7).is_none());
    }

    #[test]
    fn stays_within_its_budget_dropping_the_least_recently_used() {
        let body = "x".repeat(300);
        let cache = MemberCache::new(1000);
        cache.put("one", 1, vec![member("a", &body)]);
        cache.put("two", 1, vec![member("a", &body)]);
        // "one" is used, so "two" is the one to go when "three" needs room.
        assert!(cache.snapshot("one", 1).is_some());
        cache.put("three", 1, vec![member("a", &body)]);
        assert!(cache.snapshot("one", 1).is_some());
        assert!(cache.snapshot("two", 1).is_none());
        assert!(cache.snapshot("three", 1).is_some());
        assert!(cache.bytes() <= 1000);
        // Refilled at a newer sequence, a collection replaces its old text, not adds to it.
        cache.put("three", 2, vec![member("a", &body)]);
        assert!(cache.bytes() <= 1000);
        // Larger than the whole budget: never kept.
        cache.put("huge", 1, vec![member("a", &"y".repeat(2000))]);
        assert!(cache.snapshot("huge", 1).is_none());
        assert!(cache.bytes() <= 1000);
    }
}
