//! The demo CRM: a deterministic, seeded generator of reps, clients, contacts, activities and
//! notes. The same seed and size always give the same rows (ChaCha8 is a stable generator, and
//! dates are relative to a fixed reference day, not to today).

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::reps;
use crate::on_db;
use crate::store::rows::{SqlValue, insert_rows};
use crate::store::{Dialect, Store, Ts};

pub const DEMO_PASSWORD: &str = "demo";
pub const DEMO_REPS: [(&str, &str, &str); 4] = [
    ("alice", "Alice Martin", "rep"),
    ("bob", "Bob Keller", "rep"),
    ("carol", "Carol Nguyen", "rep"),
    ("admin", "CRM Administrator", "admin"),
];

#[derive(Clone, Copy, Debug)]
pub struct DemoSize {
    pub clients: usize,
    pub activities: usize,
    pub seed: u64,
}

impl DemoSize {
    pub const FULL: DemoSize = DemoSize { clients: 2_000, activities: 20_000, seed: 42 };
    pub const SMALL: DemoSize = DemoSize { clients: 40, activities: 300, seed: 7 };
}

/// Activities are spread over two years around this day: 18 months back, 6 months ahead.
pub fn reference_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date")
}

const NAME_HEADS: &[&str] = &[
    "Nordwind",
    "Alpen",
    "Rhein",
    "Blue Harbor",
    "Sunfield",
    "Granite",
    "Silverline",
    "Oakridge",
    "Lumen",
    "Vantage",
    "Keystone",
    "Meridian",
    "Atlas",
    "Harbor Point",
    "Redwood",
    "Cedar",
    "Polaris",
    "Summit",
    "Riverbend",
    "Ironbridge",
    "Bright",
    "Northgate",
    "Falcon",
    "Evergreen",
    "Copper",
    "Westlake",
    "Horizon",
    "Pioneer",
    "Crescent",
    "Maple",
];
const NAME_TAILS: &[&str] = &[
    "Logistics",
    "Foods",
    "Engineering",
    "Pharma",
    "Textiles",
    "Motors",
    "Software",
    "Furniture",
    "Packaging",
    "Energy",
    "Print",
    "Optics",
    "Tools",
    "Chemicals",
    "Hotels",
    "Retail",
    "Builders",
    "Medical",
    "Labs",
    "Wholesale",
];
const LEGAL_FORMS: &[&str] = &["GmbH", "AG", "Ltd", "SA", "SARL", "BV", "Inc.", "& Co. KG", "SpA", "Oy"];
const CATEGORIES: &[&str] = &["Key account", "Retail", "Wholesale", "Industry", "Public sector", "Healthcare"];
const TERRITORIES: &[&str] = &["North", "South", "East", "West", "Central"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Hamburg", "20095", "Germany"),
    ("Munich", "80331", "Germany"),
    ("Zurich", "8001", "Switzerland"),
    ("Lyon", "69002", "France"),
    ("Milan", "20121", "Italy"),
    ("Rotterdam", "3011", "Netherlands"),
    ("Vienna", "1010", "Austria"),
    ("Manchester", "M1 1AE", "United Kingdom"),
    ("Helsinki", "00100", "Finland"),
    ("Barcelona", "08002", "Spain"),
];
const STREETS: &[&str] =
    &["Hauptstrasse", "Market Street", "Rue de la Gare", "Via Roma", "Industrieweg", "Harbour Road", "Lindenallee"];
const FIRST_NAMES: &[&str] = &[
    "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Elias", "Lea", "Noah", "Emma", "Paul", "Chloé", "Luca", "Giulia",
    "Mateo", "Sofia", "Oliver", "Amelia", "Jakob", "Sara", "Felix", "Nora", "Ivan", "Zoë", "Hugo", "Inès",
];
const LAST_NAMES: &[&str] = &[
    "Müller",
    "Schmidt",
    "Dubois",
    "Rossi",
    "Jansen",
    "García",
    "Smith",
    "Virtanen",
    "Novak",
    "Berger",
    "Fischer",
    "Moreau",
    "Bianchi",
    "de Vries",
    "Martínez",
    "Taylor",
    "Korhonen",
    "Weber",
    "Lambert",
    "Ricci",
];
const TITLES: &[&str] =
    &["Purchasing Manager", "CEO", "Head of Operations", "Buyer", "CFO", "Plant Manager", "Office Manager", ""];
const SUBJECTS: &[(&str, &str)] = &[
    ("meeting", "Quarterly business review"),
    ("meeting", "Price negotiation"),
    ("meeting", "Product presentation"),
    ("call", "Follow-up call"),
    ("call", "Order status call"),
    ("call", "Renewal call"),
    ("visit", "Site visit"),
    ("visit", "Trade fair meeting"),
    ("visit", "Plant tour"),
    ("task", "Send quote"),
    ("task", "Prepare contract"),
    ("task", "Check open invoices"),
];
const NOTE_PHRASES: &[&str] = &[
    "Customer happy with delivery times; wants a volume discount for next year.",
    "Discussed new product line; samples to be sent.",
    "Complaint about the last invoice, credit note agreed.",
    "Budget approved for Q1, order expected next month.",
    "Decision maker changed, new contact introduced.",
    "Competitor offered 5% less; we hold the price with better service terms.",
    "Framework contract renewed for two years.",
    "Asked for a demo at their second site.",
];

pub struct DemoSummary {
    pub loaded: bool,
    pub clients: usize,
    pub contacts: usize,
    pub activities: usize,
    pub notes: usize,
    pub results: usize,
    pub objectives: usize,
}

/// Loads the demo CRM unless the database already holds reps or clients (idempotent).
pub async fn load(store: &Store, size: DemoSize) -> Result<DemoSummary> {
    let existing: i64 = on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM reps) + (SELECT COUNT(*) FROM clients)")
            .fetch_one(pool)
            .await?
    });
    if existing > 0 {
        return Ok(DemoSummary {
            loaded: false,
            clients: 0,
            contacts: 0,
            activities: 0,
            notes: 0,
            results: 0,
            objectives: 0,
        });
    }
    let mut rep_ids = Vec::new();
    for (login, name, role) in DEMO_REPS {
        let rep = reps::add(store, login, name, &format!("{login}@crmdav.example"), role, DEMO_PASSWORD).await?;
        if role == "rep" {
            rep_ids.push(rep.id);
        }
    }
    let data = generate(size, &rep_ids);
    insert_rows(store, "clients", CLIENT_COLUMNS, &data.clients).await?;
    insert_rows(store, "contacts", CONTACT_COLUMNS, &data.contacts).await?;
    insert_rows(store, "activities", ACTIVITY_COLUMNS, &data.activities).await?;
    insert_rows(store, "notes", NOTE_COLUMNS, &data.notes).await?;
    insert_rows(store, "results", RESULT_COLUMNS, &data.results).await?;
    insert_rows(store, "objectives", OBJECTIVE_COLUMNS, &data.objectives).await?;
    if store.dialect() == Dialect::Postgres {
        // Rows were inserted with explicit ids: move the identity sequences past them.
        on_db!(store, write, |pool| {
            for table in ["clients", "contacts", "activities", "notes", "results", "objectives"] {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                ))
                .execute(pool)
                .await?;
            }
        });
    }
    // Alice and the others have report tasks for the planned activities that ended before the
    // demo's reference day (as of that day, so that the demo is the same whenever it is loaded).
    let reference = Utc.from_utc_datetime(&reference_day().and_hms_opt(0, 0, 0).expect("valid time"));
    super::report_tasks::request_due(store, &crate::config::CalendarConfig::default(), reference).await?;
    // Fresh statistics, or the planner works from those of an empty database until autovacuum
    // (PostgreSQL) or never (SQLite) catches up.
    on_db!(store, write, |pool| {
        sqlx::query("ANALYZE").execute(pool).await?;
    });
    Ok(DemoSummary {
        loaded: true,
        clients: data.clients.len(),
        contacts: data.contacts.len(),
        activities: data.activities.len(),
        notes: data.notes.len(),
        results: data.results.len(),
        objectives: data.objectives.len(),
    })
}

pub const CLIENT_COLUMNS: &[&str] = &[
    "id",
    "code",
    "name",
    "category",
    "status",
    "territory",
    "account_manager_id",
    "sales_ytd_cents",
    "sales_last_year_cents",
    "street",
    "postal_code",
    "city",
    "country",
    "phone",
    "website",
];
pub const CONTACT_COLUMNS: &[&str] = &[
    "id",
    "uid",
    "href",
    "client_id",
    "first_name",
    "last_name",
    "title",
    "email",
    "phone",
    "mobile",
    "street",
    "postal_code",
    "city",
    "country",
];
pub const ACTIVITY_COLUMNS: &[&str] = &[
    "id",
    "uid",
    "href",
    "rep_id",
    "client_id",
    "contact_id",
    "kind",
    "subject",
    "location",
    "start_at",
    "end_at",
    "all_day",
    "timezone",
    "recurring",
    "range_end",
    "status",
    "completed_at",
    "ical",
];
pub const NOTE_COLUMNS: &[&str] = &["id", "client_id", "activity_id", "rep_id", "body", "source", "created_at"];
pub const RESULT_COLUMNS: &[&str] = &[
    "id",
    "reference",
    "client_id",
    "rep_id",
    "activity_id",
    "ordered_on",
    "amount_cents",
    "currency",
    "kind",
    "source",
];
pub const OBJECTIVE_COLUMNS: &[&str] =
    &["id", "rep_id", "period_start", "period_end", "amount_cents", "currency", "visits", "new_clients"];

/// The generated rows, in the column order of the `*_COLUMNS` constants.
pub struct DemoData {
    pub clients: Vec<Vec<SqlValue>>,
    pub contacts: Vec<Vec<SqlValue>>,
    pub activities: Vec<Vec<SqlValue>>,
    pub notes: Vec<Vec<SqlValue>>,
    pub results: Vec<Vec<SqlValue>>,
    pub objectives: Vec<Vec<SqlValue>>,
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("non-empty list")
}

fn slug(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase()
}

/// Deterministic uuid-shaped identifier from the generator.
fn demo_uuid(rng: &mut ChaCha8Rng) -> String {
    let bytes: [u8; 16] = rng.r#gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

pub fn generate(size: DemoSize, rep_ids: &[i64]) -> DemoData {
    let mut rng = ChaCha8Rng::seed_from_u64(size.seed);
    let mut data = DemoData {
        clients: Vec::new(),
        contacts: Vec::new(),
        activities: Vec::new(),
        notes: Vec::new(),
        results: Vec::new(),
        objectives: Vec::new(),
    };
    // (client id, account manager, contact ids) for linking activities.
    let mut client_links: Vec<(i64, i64, Vec<i64>)> = Vec::new();

    for index in 0..size.clients {
        let id = index as i64 + 1;
        let name =
            format!("{} {} {}", pick(&mut rng, NAME_HEADS), pick(&mut rng, NAME_TAILS), pick(&mut rng, LEGAL_FORMS));
        let status = match rng.gen_range(0..100) {
            0..60 => "active",
            60..75 => "prospect",
            75..90 => "inactive",
            _ => "closed",
        };
        let manager = *pick(&mut rng, rep_ids);
        let (city, postal, country) = *pick(&mut rng, CITIES);
        let sales_last_year = if status == "prospect" { 0 } else { rng.gen_range(0..50_000_000i64) };
        let sales_ytd = if status == "prospect" { 0 } else { sales_last_year * rng.gen_range(40..130) / 100 };
        data.clients.push(vec![
            id.into(),
            format!("C{:05}", id).into(),
            name.clone().into(),
            (*pick(&mut rng, CATEGORIES)).into(),
            status.into(),
            (*pick(&mut rng, TERRITORIES)).into(),
            manager.into(),
            sales_ytd.into(),
            sales_last_year.into(),
            format!("{} {}", pick(&mut rng, STREETS), rng.gen_range(1..200)).into(),
            postal.into(),
            city.into(),
            country.into(),
            format!("+49 40 {:07}", rng.gen_range(0..10_000_000)).into(),
            format!("https://www.{}.example", slug(&name)).into(),
        ]);
        // 1 to 4 contacts, and about one client in ten with none.
        let contact_count = if rng.gen_ratio(1, 10) { 0 } else { rng.gen_range(1..=4) };
        let mut contact_ids = Vec::new();
        for _ in 0..contact_count {
            let contact_id = data.contacts.len() as i64 + 1;
            let (first, last) = (*pick(&mut rng, FIRST_NAMES), *pick(&mut rng, LAST_NAMES));
            let uid = demo_uuid(&mut rng);
            data.contacts.push(vec![
                contact_id.into(),
                uid.clone().into(),
                format!("{uid}.vcf").into(),
                id.into(),
                first.into(),
                last.into(),
                (*pick(&mut rng, TITLES)).into(),
                format!("{}.{}@{}.example", slug(first), slug(last), slug(&name)).into(),
                format!("+49 40 {:07}", rng.gen_range(0..10_000_000)).into(),
                format!("+49 170 {:07}", rng.gen_range(0..10_000_000)).into(),
                format!("{} {}", pick(&mut rng, STREETS), rng.gen_range(1..200)).into(),
                postal.into(),
                city.into(),
                country.into(),
            ]);
            contact_ids.push(contact_id);
        }
        client_links.push((id, manager, contact_ids));
    }

    let reference = Utc.from_utc_datetime(&reference_day().and_hms_opt(0, 0, 0).expect("valid time"));
    let first_day = reference - Duration::days(548);
    for index in 0..size.activities {
        let id = index as i64 + 1;
        let (client_id, manager, contact_ids) = pick(&mut rng, &client_links).clone();
        // Most activities belong to the client's account manager; some to a colleague.
        let rep_id = if rng.gen_ratio(9, 10) { manager } else { *pick(&mut rng, rep_ids) };
        let contact_id = contact_ids.choose(&mut rng).copied();
        let (kind, subject) = *pick(&mut rng, SUBJECTS);
        let day = first_day + Duration::days(rng.gen_range(0..730));
        let all_day = kind == "task" || rng.gen_ratio(1, 20);
        let start = if all_day { day } else { day + Duration::minutes(rng.gen_range(16..36) * 30) };
        let end = if all_day {
            start + Duration::days(1)
        } else {
            start + Duration::minutes(*pick(&mut rng, &[30, 60, 90, 120]))
        };
        let past = end < reference;
        let status = if past {
            match rng.gen_range(0..10) {
                0..7 => "completed",
                7 => "cancelled",
                _ => "planned",
            }
        } else {
            "planned"
        };
        let uid = demo_uuid(&mut rng);
        // One activity in thirty is a weekly series of 4 to 12 meetings.
        let recurring = kind != "task" && rng.gen_ratio(1, 30);
        let (range_end, ical) = if recurring {
            let count = rng.gen_range(4..=12);
            let last_end = end + Duration::weeks(count - 1);
            (Some(Ts(last_end)), Some(recurring_ical(&uid, subject, start, end, count)))
        } else {
            (Some(Ts(end)), None)
        };
        let completed_at = (status == "completed").then_some(Ts(end));
        data.activities.push(vec![
            id.into(),
            uid.clone().into(),
            format!("{uid}.ics").into(),
            rep_id.into(),
            client_id.into(),
            contact_id.into(),
            kind.into(),
            subject.into(),
            // No place of their own: a visit shows the client's address (`mapping::ical::shown`).
            "".into(),
            Ts(start).into(),
            Ts(end).into(),
            all_day.into(),
            (if all_day { "" } else { "Europe/Berlin" }).into(),
            recurring.into(),
            range_end.into(),
            status.into(),
            completed_at.into(),
            ical.into(),
        ]);
        if status == "completed" {
            let note_id = data.notes.len() as i64 + 1;
            data.notes.push(vec![
                note_id.into(),
                client_id.into(),
                id.into(),
                rep_id.into(),
                format!("{subject}: {}", pick(&mut rng, NOTE_PHRASES)).into(),
                "crm".into(),
                Ts(end).into(),
            ]);
        }
    }
    debug_assert!(data.activities.iter().all(|row| row.len() == ACTIVITY_COLUMNS.len()));
    generate_results(size, rep_ids, &mut data);
    data
}

/// Column indexes of the generated rows that results are derived from.
const CLIENT_STATUS: usize = 4;
const CLIENT_MANAGER: usize = 6;
const CLIENT_SALES_YTD: usize = 7;
const CLIENT_SALES_LAST_YEAR: usize = 8;

/// Results and objectives, from a generator of their own (the other rows stay what they were
/// before results existed). Each client's stored figures (sales this year to the reference day,
/// and last year) become one to six orders in their year, some linked to a completed activity of
/// the client shortly before; one client in five with figures was won in the window (its first
/// order is new business: in the previous year, or this year when it had no sales before). Each
/// rep has a monthly objective for the two years.
fn generate_results(size: DemoSize, rep_ids: &[i64], data: &mut DemoData) {
    let mut rng = ChaCha8Rng::seed_from_u64(size.seed ^ 0x7e5u64.rotate_left(40));
    let reference = reference_day();
    let this_year = reference.year();
    // Completed activities of each client: (id, rep, day), in generation order.
    let mut completed: std::collections::HashMap<i64, Vec<(i64, i64, NaiveDate)>> = Default::default();
    for row in &data.activities {
        if let (SqlValue::Int(Some(id)), SqlValue::Int(Some(rep)), SqlValue::Int(Some(client))) =
            (&row[0], &row[3], &row[4])
            && row[15] == SqlValue::from("completed")
            && let SqlValue::Time(Some(end)) = &row[10]
        {
            completed.entry(*client).or_default().push((*id, *rep, end.0.date_naive()));
        }
    }
    let mut monthly_sales: std::collections::HashMap<(i64, i32), i64> = Default::default();
    for row in data.clients.iter_mut() {
        let (SqlValue::Int(Some(client_id)), SqlValue::Int(Some(manager))) = (&row[0], &row[CLIENT_MANAGER]) else {
            continue;
        };
        let (client_id, manager) = (*client_id, *manager);
        let SqlValue::Int(Some(mut ytd)) = row[CLIENT_SALES_YTD] else { continue };
        let SqlValue::Int(Some(mut last_year)) = row[CLIENT_SALES_LAST_YEAR] else { continue };
        if row[CLIENT_STATUS] == SqlValue::from("prospect") || ytd + last_year == 0 {
            continue;
        }
        let won = rng.gen_ratio(1, 5);
        if won && rng.gen_ratio(1, 2) {
            // Won this year: all of its sales are this year's.
            (ytd, last_year) = (ytd + last_year, 0);
            row[CLIENT_SALES_YTD] = ytd.into();
            row[CLIENT_SALES_LAST_YEAR] = last_year.into();
        }
        let mut first = true;
        for (year, total, last_day) in [
            (this_year - 1, last_year, NaiveDate::from_ymd_opt(this_year - 1, 12, 31).expect("valid date")),
            (this_year, ytd, reference - Duration::days(1)),
        ] {
            if total == 0 {
                continue;
            }
            let year_start = NaiveDate::from_ymd_opt(year, 1, 1).expect("valid date");
            let span = (last_day - year_start).num_days();
            let count = rng.gen_range(1..=6i64);
            let mut days: Vec<NaiveDate> =
                (0..count).map(|_| year_start + Duration::days(rng.gen_range(0..=span))).collect();
            days.sort();
            for (i, day) in days.into_iter().enumerate() {
                let i = i as i64;
                // The shares add up to the total exactly.
                let amount = total * (i + 1) / count - total * i / count;
                let activity = completed
                    .get(&client_id)
                    .and_then(|list| list.iter().rfind(|(_, _, d)| *d <= day && (day - *d).num_days() <= 60).copied());
                let activity = activity.filter(|_| rng.gen_ratio(2, 3));
                let rep = activity.map_or(manager, |(_, rep, _)| rep);
                let id = data.results.len() as i64 + 1;
                data.results.push(vec![
                    id.into(),
                    format!("ORD-{id:06}").into(),
                    client_id.into(),
                    rep.into(),
                    activity.map(|(id, _, _)| id).into(),
                    day.into(),
                    amount.into(),
                    "EUR".into(),
                    (if won && first { "new" } else { "repeat" }).into(),
                    "demo".into(),
                ]);
                *monthly_sales.entry((rep, year)).or_default() += amount;
                first = false;
            }
        }
    }
    for &rep in rep_ids {
        for year in [this_year - 1, this_year] {
            let monthly = monthly_sales.get(&(rep, year)).copied().unwrap_or(0) / 12;
            for month in 1..=12 {
                let start = NaiveDate::from_ymd_opt(year, month, 1).expect("valid date");
                let end = start.checked_add_months(chrono::Months::new(1)).expect("valid date") - Duration::days(1);
                let id = data.objectives.len() as i64 + 1;
                data.objectives.push(vec![
                    id.into(),
                    rep.into(),
                    start.into(),
                    end.into(),
                    // Rounded to hundreds of units.
                    (monthly * rng.gen_range(90..=115) / 100 / 10_000 * 10_000).into(),
                    "EUR".into(),
                    rng.gen_range(4..=12i64).into(),
                    rng.gen_range(0..=2i64).into(),
                ]);
            }
        }
    }
}

fn recurring_ical(
    uid: &str,
    subject: &str,
    start: chrono::DateTime<Utc>,
    end: chrono::DateTime<Utc>,
    count: i64,
) -> String {
    let berlin = chrono_tz::Europe::Berlin;
    let local = |t: chrono::DateTime<Utc>| t.with_timezone(&berlin).format("%Y%m%dT%H%M%S").to_string();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav//demo//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{stamp}\r\n\
         DTSTART;TZID=Europe/Berlin:{start}\r\nDTEND;TZID=Europe/Berlin:{end}\r\nRRULE:FREQ=WEEKLY;COUNT={count}\r\n\
         SUMMARY:{subject}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        stamp = start.format("%Y%m%dT%H%M%SZ"),
        start = local(start),
        end = local(end),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(data: &DemoData) -> String {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}",
            data.clients, data.contacts, data.activities, data.notes, data.results, data.objectives
        )
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a = generate(DemoSize::SMALL, &[1, 2, 3]);
        let b = generate(DemoSize::SMALL, &[1, 2, 3]);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = generate(DemoSize { seed: 8, ..DemoSize::SMALL }, &[1, 2, 3]);
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn full_size_has_the_promised_shape() {
        let data = generate(DemoSize::FULL, &[1, 2, 3]);
        assert_eq!(data.clients.len(), 2_000);
        assert_eq!(data.activities.len(), 20_000);
        // 1-4 contacts per client, some with none: between 1.5 and 2.5 per client on average.
        assert!((3_000..5_000).contains(&data.contacts.len()), "{}", data.contacts.len());
        let recurring = data.activities.iter().filter(|row| row[13] == SqlValue::Bool(Some(true))).count();
        assert!(recurring > 200, "{recurring} recurring activities");
        assert!(data.notes.len() > 5_000, "{} notes", data.notes.len());
    }
}
