//! The fuzz targets' checks (fuzz/src/lib.rs) on the stable toolchain, as part of `cargo test`:
//! every input cargo-fuzz ever kept (and every crash it once found) replayed, then a bounded smoke
//! run of seeded random mutations of that corpus. Coverage-guided fuzzing is `scripts/fuzz-smoke`
//! (nightly, libFuzzer); this keeps every CI run trying inputs beyond the kept ones.
//!
//! `CRMDAV_FUZZ_SEED` and `CRMDAV_FUZZ_ROUNDS` (per target) widen the smoke run; a failing input is
//! saved under `fuzz/artifacts/TARGET/` with the command that reproduces it.

use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 3] =
    [("xml_request", fuzz_checks::xml_request), ("icalendar", fuzz_checks::icalendar), ("vcard", fuzz_checks::vcard)];

/// Pieces of the three grammars, spliced into inputs: random bytes alone rarely reach past the
/// first line of a calendar or the root element of a request.
const DICTIONARY: &[&[u8]] = &[
    b"BEGIN:VEVENT\r\n",
    b"END:VEVENT\r\n",
    b"BEGIN:VTODO\r\n",
    b"END:VCALENDAR\r\n",
    b"BEGIN:VTIMEZONE\r\n",
    b"RRULE:FREQ=DAILY;COUNT=3\r\n",
    b"RRULE:FREQ=WEEKLY;BYDAY=MO,TU;UNTIL=20270101T000000Z\r\n",
    b"EXDATE;TZID=Europe/Paris:20260302T090000\r\n",
    b"RECURRENCE-ID:20260302T090000Z\r\n",
    b"DTSTART;VALUE=DATE:20260301\r\n",
    b"DTEND;TZID=W. Europe Standard Time:20260301T100000\r\n",
    b"STATUS:COMPLETED\r\n",
    b"X-CRM-CLIENT:1\r\n",
    b"BEGIN:VCARD\r\n",
    b"END:VCARD\r\n",
    b"VERSION:4.0\r\n",
    b"item1.ADR;TYPE=WORK:;;1 Main St;Town;;1000;CH\r\n",
    b"item1.X-ABLabel:_$!<Other>!$_\r\n",
    b"EMAIL;TYPE=INTERNET:a@b.example\r\n",
    b"ORG:ACME;Sales\r\n",
    b"N:Doe;Ann;;;\r\n",
    b"\r\n ",
    b";",
    b":",
    b",",
    b"\\n",
    b"<D:href>/dav/calendars/alice/activities/x.ics</D:href>",
    b"<D:prop><D:getetag/></D:prop>",
    b"<C:time-range start=\"20260101T000000Z\" end=\"20260201T000000Z\"/>",
    b"<C:comp-filter name=\"VEVENT\">",
    b"</C:comp-filter>",
    b"<C:text-match collation=\"i;unicode-casemap\" match-type=\"contains\">a</C:text-match>",
    b"<D:sync-token></D:sync-token>",
    b"xmlns:D=\"DAV:\"",
    b"<!DOCTYPE d [<!ENTITY e \"x\">]>",
    b"&e;",
    b"&amp;",
    b"<![CDATA[",
    b"]]>",
    b"\xc3\xa9",
    b"\xff\xfe",
];

fn corpus(target: &str) -> (PathBuf, Vec<(PathBuf, Vec<u8>)>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let folder = root.join("corpus").join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect();
    // read_dir's order is the file system's: sort, so that a seed means the same run everywhere.
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", folder.display());
    (root, inputs)
}

#[test]
fn fuzz_corpus_replays_cleanly() {
    for (target, check) in TARGETS {
        for (path, data) in corpus(target).1 {
            if catch_unwind(|| check(&data)).is_err() {
                panic!(
                    "{target}: {} fails its check (reproduce: cargo fuzz run {target} {})",
                    path.display(),
                    path.display()
                );
            }
        }
    }
}

/// One random edit: what libFuzzer's mutators do most (flip, overwrite, erase, duplicate, insert
/// a dictionary word, cross over with another input).
fn mutate(data: &mut Vec<u8>, other: &[u8], rng: &mut ChaCha8Rng) {
    let at = |rng: &mut ChaCha8Rng, len: usize| if len == 0 { 0 } else { rng.gen_range(0..=len) };
    match rng.gen_range(0..6) {
        0 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            data[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if !data.is_empty() => {
            let i = rng.gen_range(0..data.len());
            data[i] = *b"\0\xff<>&:;\n\r\" \x80\xc3=/".get(rng.gen_range(0..16)).unwrap_or(&0);
        }
        2 if !data.is_empty() => {
            let start = rng.gen_range(0..data.len());
            let end = (start + rng.gen_range(1..=64)).min(data.len());
            data.drain(start..end);
        }
        3 if !data.is_empty() => {
            let start = rng.gen_range(0..data.len());
            let end = (start + rng.gen_range(1..=256)).min(data.len());
            let copy = data[start..end].to_vec();
            let to = at(rng, data.len());
            data.splice(to..to, copy);
        }
        4 => {
            let word = DICTIONARY[rng.gen_range(0..DICTIONARY.len())];
            let to = at(rng, data.len());
            data.splice(to..to, word.iter().copied());
        }
        _ => {
            // Cross-over: this input's head, the other's tail.
            let cut = at(rng, data.len());
            let from = at(rng, other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
    }
}

#[test]
fn fuzz_smoke_mutations_of_the_corpus_pass_the_checks() {
    let seed: u64 = std::env::var("CRMDAV_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261123);
    let rounds: usize = std::env::var("CRMDAV_FUZZ_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    for (t, (target, check)) in TARGETS.into_iter().enumerate() {
        let (root, inputs) = corpus(target);
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(t as u64));
        for round in 0..rounds {
            let mut data = inputs[rng.gen_range(0..inputs.len())].1.clone();
            for _ in 0..rng.gen_range(1..=4) {
                let other = &inputs[rng.gen_range(0..inputs.len())].1;
                mutate(&mut data, other, &mut rng);
            }
            if catch_unwind(|| check(&data)).is_err() {
                let folder = root.join("artifacts").join(target);
                std::fs::create_dir_all(&folder).unwrap();
                let path = folder.join(format!("smoke-{seed}-{round}"));
                std::fs::write(&path, &data).unwrap();
                panic!(
                    "{target}: mutation {round} of seed {seed} fails its check; input saved to {} \
                     (reproduce: cargo fuzz run {target} {}, or CRMDAV_FUZZ_SEED={seed} cargo test --test fuzz_smoke)",
                    path.display(),
                    path.display()
                );
            }
        }
    }
}
