//! The absences each instance caches follow the registry version.

use chrono::Duration;
use serde_json::{Value, json};

use super::*;

/// The depot caches each box's absences. An absence written by someone else (another
/// instance, an operator's SQL: here a statement on the database, which moves no
/// counter of this process) reaches the cache through the registry version that the
/// `absence` table's trigger moves, as key changes do; so does its removal.
#[tokio::test]
async fn an_absence_written_elsewhere_reaches_the_cache() {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let p = practice().await;
    let query = format!("identity_type=nihii&identity_value={}", p.absent.nihii);
    let absent = || async {
        let found: Value = lookup(&p.app, &p.sender.token, &query)
            .await
            .json()
            .await
            .unwrap();
        found["absent"] == true
    };
    // Read (and cached) as not absent.
    assert!(!absent().await);
    let now = p.app.clock.now();
    entity::absence::Entity::insert(entity::absence::ActiveModel {
        id: sea_orm::Set("set-elsewhere".into()),
        box_key: sea_orm::Set(format!("nihii:{}", p.absent.nihii)),
        owner: sea_orm::Set(format!("ssin:{}", p.absent.ssin)),
        starts_at: sea_orm::Set(now - Duration::minutes(1)),
        ends_at: sea_orm::Set(now + Duration::days(1)),
        substitutes: sea_orm::Set(json!([p.chosen.id()])),
        client_id: sea_orm::Set("elsewhere".into()),
        created_at: sea_orm::Set(now),
    })
    .exec(&p.app.state.db)
    .await
    .unwrap();
    eventually("the absence set elsewhere", absent).await;
    // A message to her now may reach the substitute.
    let sealed = seal_general(PLAINTEXT, &[&p.absent.key, &p.chosen.key]);
    let answer = send(
        &p.app,
        &p.sender.token,
        &message("ehbox", &[&p.absent.id()], &sealed),
    )
    .await;
    assert_eq!(
        answer["absentRecipients"][0]["reached"],
        json!([p.chosen.id()])
    );

    p.app
        .state
        .db
        .execute_unprepared("DELETE FROM absence WHERE id = 'set-elsewhere'")
        .await
        .unwrap();
    eventually("the absence ended elsewhere", || async { !absent().await }).await;
}
