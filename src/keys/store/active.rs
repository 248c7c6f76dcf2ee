//! Which registered keys of some identities are active now: the depot asks it of every
//! message's recipients and sender. Each identity's keys are cached per instance
//! (`crate::cache::registry`: read again once any registration changed); the
//! identities missing from the cache in concurrent requests share one query
//! (`crate::batch`). Each answer is then sorted out of the rows, at its own time.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::public_key;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::{IdentityFilter, KeyRow, key_use, status};
use crate::batch::{Batcher, answer_each};
use crate::cache::registry::{Freshness, Registered};
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
    /// Every key of each identity, whatever its times: whether it is active is decided
    /// at each question's time, so a key coming into force needs no new read.
    rows: Arc<Registered<IdentityFilter, Arc<Vec<KeyRow>>>>,
    batcher: Batcher<Vec<IdentityFilter>, Result<Vec<KeyRow>, DbErr>>,
    policy: Policy,
}

impl ActiveKids {
    pub fn new(
        db: DatabaseConnection,
        policy: Policy,
        freshness: Freshness,
        capacity: u64,
    ) -> Self {
        Self {
            rows: Arc::new(Registered::new(capacity, freshness)),
            batcher: Batcher::new(64, 2, move |wanted: Vec<Vec<IdentityFilter>>| {
                let db = db.clone();
                async move {
                    let keys = keys_of(&db, wanted.iter().flatten()).await;
                    if keys.is_err() && wanted.len() > 1 {
                        // The shared query failed: each request's identities are
                        // read alone, so that one request's trouble is not every
                        // request's.
                        let mut answers = Vec::with_capacity(wanted.len());
                        for ids in &wanted {
                            answers.push(keys_of(&db, ids.iter()).await);
                        }
                        return answers;
                    }
                    answer_each(&wanted, keys, |ids, keys| {
                        keys.iter()
                            .filter(|k| ids.iter().any(|id| id.matches(k)))
                            .cloned()
                            .collect()
                    })
                }
            }),
            policy,
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
        let stamp = self.rows.stamp();
        // The cached rows are shared, never copied: each identity's list as it is.
        let mut lists: Vec<Arc<Vec<KeyRow>>> = Vec::new();
        let mut missing: Vec<IdentityFilter> = Vec::new();
        for id in &identities {
            match self.rows.fresh(id) {
                Some(keys) => lists.push(keys),
                None if !missing.contains(id) => missing.push(id.clone()),
                None => {}
            }
        }
        if !missing.is_empty() {
            let read = self.batcher.ask(missing.clone()).await?;
            for id in missing {
                let own = Arc::new(read.iter().filter(|k| id.matches(k)).cloned().collect());
                self.rows.keep(id, stamp, Arc::clone(&own));
                lists.push(own);
            }
        }
        let question = Question {
            identities,
            wanted,
            at,
        };
        Ok(answer(
            &question,
            lists.iter().flat_map(|l| l.iter()),
            &self.policy,
        ))
    }
}

/// Every key of any of the identities.
async fn keys_of<'a>(
    db: &DatabaseConnection,
    identities: impl Iterator<Item = &'a IdentityFilter>,
) -> Result<Vec<KeyRow>, DbErr> {
    let identities: Vec<&IdentityFilter> = identities.collect();
    if identities.is_empty() {
        return Ok(Vec::new());
    }
    public_key::Entity::find()
        .filter(IdentityFilter::any_of(identities.into_iter()))
        .all(db)
        .await
}

/// The question's kids among `keys` (rows of its identities, maybe of others', maybe
/// twice): each once, in the rows' order.
fn answer<'a>(
    question: &Question,
    keys: impl Iterator<Item = &'a KeyRow>,
    policy: &Policy,
) -> Vec<String> {
    let mut seen = HashSet::new();
    keys.filter(|k| k.not_before <= question.at)
        .filter(|k| question.identities.iter().any(|id| id.matches(k)))
        .filter(|k| status(k, policy, question.at) == Status::Active)
        .filter(|k| key_use(k).serves(question.wanted))
        .filter(|k| seen.insert(k.kid.as_str()))
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
        let keys = [
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
            answer(&question, keys.iter(), &policy)
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
        let identities: Vec<IdentityFilter> = (0..64)
            .flat_map(|q| {
                (0..101).map(move |i| match i % 3 {
                    0 => IdentityFilter::Ssin(format!("{q}-{i}")),
                    1 => IdentityFilter::Nihii(format!("{q}-{i}")),
                    _ => IdentityFilter::Cbe(format!("{q}-{i}")),
                })
            })
            .collect();
        assert!(keys_of(&db, identities.iter()).await.unwrap().is_empty());
    }
}
