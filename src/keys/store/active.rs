//! Which registered keys of some identities are active now: the depot asks it of every
//! message's recipients and sender. The questions of concurrent requests share one
//! query (`crate::batch`); each answer is then sorted out of the rows read.

use chrono::{DateTime, Utc};
use entity::public_key;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::{IdentityFilter, KeyRow, key_use, status};
use crate::batch::{Batcher, answer_each};
use crate::keys::{KeyUse, Policy, Status};

/// One request's question: the kids of these identities' keys active at `at` that
/// serve `wanted`.
struct Question {
    identities: Vec<IdentityFilter>,
    wanted: KeyUse,
    at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct ActiveKids {
    batcher: Batcher<Question, Result<Vec<String>, DbErr>>,
}

impl ActiveKids {
    pub fn new(db: DatabaseConnection, policy: Policy) -> Self {
        Self {
            batcher: Batcher::new(64, 2, move |questions: Vec<Question>| {
                let db = db.clone();
                async move {
                    let keys = keys_of(&db, &questions).await;
                    if keys.is_err() && questions.len() > 1 {
                        // The shared query failed: each question is asked alone, so
                        // that one request's trouble is not every request's.
                        let mut answers = Vec::with_capacity(questions.len());
                        for q in &questions {
                            let keys = keys_of(&db, std::slice::from_ref(q)).await;
                            answers.extend(answer_each(
                                std::slice::from_ref(q),
                                keys,
                                |q, keys| answer(q, keys, &policy),
                            ));
                        }
                        return answers;
                    }
                    answer_each(&questions, keys, |q, keys| answer(q, keys, &policy))
                }
            }),
        }
    }

    /// The kids of the keys of any of these identities that were active at `at` and
    /// serve `wanted`.
    pub async fn of_any(
        &self,
        identities: Vec<IdentityFilter>,
        wanted: KeyUse,
        at: DateTime<Utc>,
    ) -> Result<Vec<String>, DbErr> {
        self.batcher
            .ask(Question {
                identities,
                wanted,
                at,
            })
            .await
    }
}

/// Every key of the questions' identities that exists by the latest of their times.
async fn keys_of(db: &DatabaseConnection, questions: &[Question]) -> Result<Vec<KeyRow>, DbErr> {
    let Some(latest) = questions.iter().map(|q| q.at).max() else {
        return Ok(Vec::new());
    };
    let any = IdentityFilter::any_of(questions.iter().flat_map(|q| &q.identities));
    public_key::Entity::find()
        .filter(public_key::Column::NotBefore.lte(latest))
        .filter(any)
        .all(db)
        .await
}

fn answer(question: &Question, keys: &[KeyRow], policy: &Policy) -> Vec<String> {
    keys.iter()
        .filter(|k| k.not_before <= question.at)
        .filter(|k| question.identities.iter().any(|id| id.matches(k)))
        .filter(|k| status(k, policy, question.at) == Status::Active)
        .filter(|k| key_use(k).serves(question.wanted))
        .map(|k| k.kid.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn key(
        kid: &str,
        profile: &str,
        ssin: Option<&str>,
        nihii: Option<&str>,
        cbe: Option<&str>,
    ) -> KeyRow {
        let now = Utc::now();
        KeyRow {
            kid: kid.into(),
            owner: kid.into(),
            ssin: ssin.map(Into::into),
            profile: profile.into(),
            nihii: nihii.map(Into::into),
            cbe: cbe.map(Into::into),
            identity: serde_json::json!({}),
            client_id: None,
            name: kid.into(),
            key_use: "enc".into(),
            alg: None,
            jwk: serde_json::json!({}),
            jkt: kid.into(),
            source: "api".into(),
            attestation: None,
            created_at: now - Duration::hours(1),
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(1),
            last_used_at: now,
            revoked_at: None,
            revoked_by: None,
        }
    }

    /// Rows read for a whole batch hold other requests' identities: each answer keeps
    /// only its own question's keys, by the same rule as the query's condition.
    #[test]
    fn each_question_gets_only_its_identities_keys() {
        let policy = Policy {
            max_active: 10,
            lifetime: Duration::days(365),
            inactivity: Duration::days(365),
            registration_timeout: Duration::minutes(5),
        };
        let keys = vec![
            key("citizen", "citizen", Some("1"), None, None),
            key("pro", "professional", Some("1"), Some("n1"), None),
            key("org", "organization", None, None, Some("c1")),
            key("system", "system", None, None, Some("c1")),
            key("other-org", "organization", None, None, Some("c2")),
            key("cbe-but-citizen", "citizen", Some("2"), None, Some("c1")),
        ];
        let ask = |identities: Vec<IdentityFilter>| {
            let question = Question {
                identities,
                wanted: KeyUse::Enc,
                at: Utc::now(),
            };
            answer(&question, &keys, &policy)
        };
        assert_eq!(
            ask(vec![IdentityFilter::Ssin("1".into())]),
            ["citizen", "pro"]
        );
        assert_eq!(ask(vec![IdentityFilter::Nihii("n1".into())]), ["pro"]);
        assert_eq!(
            ask(vec![IdentityFilter::Cbe("c1".into())]),
            ["org", "system"]
        );
        assert_eq!(
            ask(vec![
                IdentityFilter::Cbe("c2".into()),
                IdentityFilter::Ssin("2".into())
            ]),
            ["other-org", "cbe-but-citizen"]
        );
        assert!(ask(vec![IdentityFilter::Ssin("3".into())]).is_empty());
    }

    /// A full batch (64 questions of 101 identities, as 64 concurrent messages to 100
    /// recipients each) is one query SQLite accepts: an `OR` per identity passed its
    /// expression-depth limit and failed every message of the batch (issue 22, item 6).
    #[tokio::test]
    async fn a_full_batch_of_many_identities_is_one_query_sqlite_accepts() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let questions: Vec<Question> = (0..64)
            .map(|q| Question {
                identities: (0..101)
                    .map(|i| match i % 3 {
                        0 => IdentityFilter::Ssin(format!("{q}-{i}")),
                        1 => IdentityFilter::Nihii(format!("{q}-{i}")),
                        _ => IdentityFilter::Cbe(format!("{q}-{i}")),
                    })
                    .collect(),
                wanted: KeyUse::Enc,
                at: Utc::now(),
            })
            .collect();
        assert!(keys_of(&db, &questions).await.unwrap().is_empty());
    }
}
