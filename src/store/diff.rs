//! A collection's computed members against those stored: which rows to write, and writing them.
//! Used by the full recomputation (`sync::record`) and by the incremental one (`incremental`).

use std::collections::{HashMap, HashSet};

use super::sync::Member;

/// A stored member, as the diff reads it.
#[derive(sqlx::FromRow)]
pub(super) struct StoredMember {
    pub(super) href: String,
    pub(super) etag: String,
    pub(super) deleted: bool,
    pub(super) has_body: bool,
    pub(super) seq: i64,
    pub(super) source_id: Option<i64>,
}

/// The statement that reads them, to be completed with further conditions.
pub(super) const STORED_COLUMNS: &str = "SELECT href, etag, deleted, body IS NOT NULL AS has_body, seq, source_id \
    FROM collection_members WHERE collection = $1";

/// One row to write: a member without text is a deletion.
pub(super) struct Upsert<'a> {
    pub(super) href: &'a str,
    pub(super) etag: &'a str,
    pub(super) body: Option<&'a str>,
    pub(super) source: Option<i64>,
    /// The sequence it keeps; `None`: it changed, and gets the sequence it is written at.
    pub(super) seq: Option<i64>,
}

/// The rows that make `stored` what `computed` says: new or changed members (an unchanged ETag
/// keeps its sequence, clients have it, and only gets its text or source filled in), and
/// deletions of the stored members `in_scope` that are no longer computed.
pub(super) fn diff<'a>(
    stored: &'a HashMap<String, StoredMember>,
    computed: &'a [Member],
    in_scope: impl Fn(&StoredMember) -> bool,
) -> Vec<Upsert<'a>> {
    let mut upserts = Vec::new();
    let mut seen = HashSet::with_capacity(computed.len());
    for member in computed {
        seen.insert(member.href.as_str());
        let kept_seq = match stored.get(&member.href) {
            Some(s) if !s.deleted && s.etag == member.etag => {
                if s.has_body && s.source_id == Some(member.source) {
                    continue;
                }
                Some(s.seq)
            }
            _ => None,
        };
        upserts.push(Upsert {
            href: &member.href,
            etag: &member.etag,
            body: Some(&member.body),
            source: Some(member.source),
            seq: kept_seq,
        });
    }
    for s in stored.values() {
        if !s.deleted && !seen.contains(s.href.as_str()) && in_scope(s) {
            upserts.push(Upsert { href: &s.href, etag: &s.etag, body: None, source: s.source_id, seq: None });
        }
    }
    upserts
}

/// Writes `$upserts` of collection `$collection` in transaction `$tx`, the changed ones at
/// sequence `$changed_seq`: many rows per statement, so that a first sync of a large collection
/// does not cost a round trip per member.
macro_rules! write_upserts {
    ($tx:expr, $collection:expr, $upserts:expr, $changed_seq:expr) => {
        for chunk in $upserts.chunks(500) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = 5 * i + 2;
                    format!(
                        "($1, ${n}, ${}, ${}, ${}, ${}, {})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        if chunk[i].body.is_none() { "TRUE" } else { "FALSE" }
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO collection_members (collection, href, etag, body, seq, source_id, deleted) VALUES {} \
                 ON CONFLICT (collection, href) DO UPDATE SET etag = excluded.etag, body = excluded.body, \
                 seq = excluded.seq, source_id = excluded.source_id, deleted = excluded.deleted",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).bind($collection);
            for upsert in chunk {
                query = query
                    .bind(upsert.href)
                    .bind(upsert.etag)
                    .bind(upsert.body)
                    .bind(upsert.seq.unwrap_or($changed_seq))
                    .bind(upsert.source);
            }
            query.execute(&mut *$tx).await?;
        }
    };
}
pub(super) use write_upserts;
