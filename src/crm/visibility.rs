//! Which clients a rep sees: the visibility rules, evaluated in SQL so that the visible set of a rep
//! is one indexed query, never a scan of all clients in memory.
//!
//! A rule applies to one rep or to everyone; its conditions are ANDed (a NULL condition does not
//! constrain). A rep sees a client iff some allow rule matches it and no deny rule does.

/// SQL condition: rule `r` matches client `{c}` for the rep whose id is parameter `$rep`.
fn rule_matches(c: &str, rep_param: &str) -> String {
    format!(
        "(r.rep_id IS NULL OR r.rep_id = {rep_param}) \
         AND (r.match_account_manager = FALSE OR {c}.account_manager_id = {rep_param}) \
         AND (r.territory IS NULL OR r.territory = {c}.territory) \
         AND (r.statuses IS NULL OR (',' || r.statuses || ',') LIKE ('%,' || {c}.status || ',%')) \
         AND (r.category IS NULL OR r.category = {c}.category) \
         AND (r.client_id IS NULL OR r.client_id = {c}.id)"
    )
}

/// SQL condition on a row `c` of `clients`: visible to the rep whose id is `rep_param` (e.g. "$1").
pub fn visible_condition(rep_param: &str) -> String {
    visible_condition_on("c", rep_param)
}

/// The same for a `clients` row under another alias.
pub fn visible_condition_on(alias: &str, rep_param: &str) -> String {
    let matches = rule_matches(alias, rep_param);
    format!(
        "(EXISTS (SELECT 1 FROM visibility_rules r WHERE r.effect = 'allow' AND {matches}) \
         AND NOT EXISTS (SELECT 1 FROM visibility_rules r WHERE r.effect = 'deny' AND {matches}))"
    )
}
