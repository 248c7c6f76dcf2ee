//! The box-totals migration (`m20261204_000014_box_totals`) on boxes filled by the code
//! before it: the unread counts it starts the stripes from and the `shared` marks it
//! sets must give the summary a count made from the entries themselves, and the code
//! after it must keep them right from there.

use chrono::{DateTime, Duration, Utc};
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};

use super::{BoxUsage, box_counts, mark_read};

const A: &str = "cbe:0312345678";
const B: &str = "cbe:0412345678";
const SENT: &str = "client:sender";

/// A database with the migrations before the box totals.
async fn before_the_totals() -> DatabaseConnection {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    let all = migration::Migrator::migrations();
    let totals = all
        .iter()
        .position(|m| m.name() == "m20261204_000014_box_totals")
        .expect("the box-totals migration");
    migration::Migrator::up(&db, Some(u32::try_from(totals).unwrap()))
        .await
        .unwrap();
    let pending = migration::Migrator::get_pending_migrations(&db)
        .await
        .unwrap();
    assert_eq!(pending[0].name(), "m20261204_000014_box_totals");
    db
}

async fn run(db: &DatabaseConnection, sql: &str, values: Vec<Value>) {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .unwrap();
}

/// A message as the code before the migration stored it: the message, its sent-box
/// entry, one inbox entry per box (no `shared` column yet).
async fn old_message(
    db: &DatabaseConnection,
    id: &str,
    size: i64,
    boxes: &[&str],
    received_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) {
    run(
        db,
        "INSERT INTO message (id, application, sender_owner, sender, sealed, sealed_is_json, \
         size, recipients, metadata, timestamp, received_at, expires_at) \
         VALUES (?, 'app', ?, '{}', 'x', false, ?, '[]', '{}', x'00', ?, ?)",
        vec![
            id.into(),
            SENT.into(),
            size.into(),
            received_at.into(),
            expires_at.into(),
        ],
    )
    .await;
    for (folder, key) in std::iter::once(("sent", SENT)).chain(boxes.iter().map(|b| ("inbox", *b)))
    {
        run(
            db,
            "INSERT INTO box_entry (message_id, box_key, folder, application, size, received_at) \
             VALUES (?, ?, ?, 'app', ?, ?)",
            vec![
                id.into(),
                key.into(),
                folder.into(),
                size.into(),
                received_at.into(),
            ],
        )
        .await;
    }
}

async fn old_totals(db: &DatabaseConnection, key: &str, stripe: i32, bytes: i64, messages: i64) {
    run(
        db,
        "INSERT INTO box_usage_stripe (box_key, stripe, bytes, messages) VALUES (?, ?, ?, ?)",
        vec![key.into(), stripe.into(), bytes.into(), messages.into()],
    )
    .await;
}

async fn seq_of(db: &DatabaseConnection, message: &str, key: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT seq FROM box_entry WHERE message_id = ? AND box_key = ?",
            vec![message.into(), key.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

async fn counts(db: &DatabaseConnection, boxes: &[&str], now: DateTime<Utc>) -> BoxUsage {
    let boxes: Vec<String> = boxes.iter().map(|b| (*b).to_owned()).collect();
    box_counts(db, &boxes, now).await.unwrap()
}

fn usage(messages: i64, unread: i64, bytes: i64) -> BoxUsage {
    BoxUsage {
        messages,
        unread,
        bytes,
    }
}

#[tokio::test]
async fn boxes_filled_before_the_totals_are_summed_as_their_entries_say() {
    let db = before_the_totals().await;
    let now = Utc::now();
    let (earlier, later) = (now - Duration::hours(1), now + Duration::days(30));
    // m1 in both boxes, read in A only; m2 in A, unread; m3 in A, removed from it;
    // m4 in B, unread, past its expiry and not yet purged.
    old_message(&db, "m1", 100, &[A, B], earlier, later).await;
    old_message(&db, "m2", 200, &[A], earlier, later).await;
    old_message(&db, "m3", 300, &[A], earlier, later).await;
    old_message(&db, "m4", 400, &[B], earlier, now - Duration::minutes(1)).await;
    let read = earlier + Duration::minutes(5);
    run(
        &db,
        "UPDATE box_entry SET fetched_at = ?, read_at = ? WHERE message_id = 'm1' AND box_key = ?",
        vec![read.into(), read.into(), A.into()],
    )
    .await;
    run(
        &db,
        "UPDATE box_entry SET deleted_at = ? WHERE message_id = 'm3' AND box_key = ?",
        vec![read.into(), A.into()],
    )
    .await;
    // The old code's totals: every message counted in on arrival, on the stripe its
    // process was at, and m3 counted out of A on removal.
    old_totals(&db, A, 0, 100 + 300 - 300, 2 - 1).await;
    old_totals(&db, A, 5, 200, 1).await;
    old_totals(&db, B, 3, 100 + 400, 2).await;

    migration::Migrator::up(&db, None).await.unwrap();

    assert_eq!(counts(&db, &[A], now).await, usage(2, 1, 300));
    assert_eq!(
        counts(&db, &[B], now).await,
        usage(1, 1, 100),
        "m4 has expired"
    );
    // m1 once, and unread: one of its entries is.
    assert_eq!(counts(&db, &[A, B], now).await, usage(2, 2, 300));
    let shared = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT message_id, box_key FROM box_entry WHERE shared ORDER BY box_key",
        ))
        .await
        .unwrap();
    let shared: Vec<(String, String)> = shared
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shared,
        [
            ("m1".to_owned(), A.to_owned()),
            ("m1".to_owned(), B.to_owned())
        ]
    );

    // The code after the migration counts on from the backfilled totals.
    let seqs = [seq_of(&db, "m1", B).await, seq_of(&db, "m2", A).await];
    mark_read(&db, &seqs, now).await.unwrap();
    assert_eq!(counts(&db, &[A], now).await, usage(2, 0, 300));
    assert_eq!(counts(&db, &[B], now).await, usage(1, 0, 100));
    assert_eq!(counts(&db, &[A, B], now).await, usage(2, 0, 300));
}
