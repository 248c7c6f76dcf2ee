//! Storage of persons. The only people code that sees sea-orm.

use chrono::{DateTime, Utc};
use entity::{organization, person};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    ExprTrait, QueryFilter, Set, SqlErr,
};

use super::identifiers::{Cbe, Nihii, Ssin};
use super::model::{Organization, Person, Profile};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    Conflict,
    #[error("stored record is inconsistent: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// An insert's outcome: a row with the same key is a conflict.
fn inserted<T>(result: Result<T, DbErr>) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(StoreError::Conflict)
        }
        Err(e) => Err(e.into()),
    }
}

/// A person ready to store: password already hashed, TOTP secret already sealed.
pub struct PersonRow<'a> {
    pub ssin: &'a Ssin,
    pub name: &'a str,
    pub password_hash: Option<String>,
    pub sealed_totp_secret: Option<Vec<u8>>,
    pub profiles: &'a [Profile],
}

fn active(row: &PersonRow<'_>, now: DateTime<Utc>) -> Result<person::ActiveModel, StoreError> {
    Ok(person::ActiveModel {
        ssin: Set(row.ssin.to_string()),
        name: Set(row.name.to_owned()),
        password_hash: Set(row.password_hash.clone()),
        sealed_totp_secret: Set(row.sealed_totp_secret.clone()),
        totp_last_step: NotSet,
        profiles: Set(
            serde_json::to_value(row.profiles).map_err(|e| StoreError::Corrupt(e.to_string()))?
        ),
        created_at: Set(now),
        updated_at: Set(now),
    })
}

pub async fn insert_person(
    db: &impl ConnectionTrait,
    row: &PersonRow<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    inserted(person::Entity::insert(active(row, now)?).exec(db).await)
}

/// Creates the person or replaces their name, credentials and profiles (the import).
pub async fn upsert_person(
    db: &impl ConnectionTrait,
    row: &PersonRow<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    person::Entity::insert(active(row, now)?)
        .on_conflict(
            OnConflict::column(person::Column::Ssin)
                .update_columns([
                    person::Column::Name,
                    person::Column::PasswordHash,
                    person::Column::SealedTotpSecret,
                    person::Column::Profiles,
                    person::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

pub async fn get_person(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
) -> Result<Option<Person>, StoreError> {
    let Some(row) = person::Entity::find_by_id(ssin.to_string()).one(db).await? else {
        return Ok(None);
    };
    let profiles: Vec<Profile> = serde_json::from_value(row.profiles)
        .map_err(|e| StoreError::Corrupt(format!("person {}: profiles: {e}", row.ssin)))?;
    Ok(Some(Person {
        ssin: ssin.clone(),
        name: row.name,
        password_hash: row.password_hash,
        sealed_totp_secret: row.sealed_totp_secret,
        profiles,
        created_at: row.created_at,
    }))
}

/// Records `step` as the last TOTP step used; `false` when that step (or a later one)
/// was already used, so that a code is never accepted twice, by any instance.
pub async fn use_totp_step(
    db: &impl ConnectionTrait,
    ssin: &Ssin,
    step: i64,
) -> Result<bool, StoreError> {
    let result = person::Entity::update_many()
        .col_expr(person::Column::TotpLastStep, Expr::value(step))
        .filter(person::Column::Ssin.eq(ssin.to_string()))
        .filter(
            person::Column::TotpLastStep
                .is_null()
                .or(person::Column::TotpLastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

// ---- organizations -------------------------------------------------------------

pub async fn insert_organization(
    db: &DatabaseConnection,
    org: &Organization,
) -> Result<(), StoreError> {
    let row = organization::ActiveModel {
        cbe: Set(org.cbe.to_string()),
        name: Set(org.name.clone()),
        created_at: Set(org.created_at),
    };
    inserted(organization::Entity::insert(row).exec(db).await)
}

/// Creates the organization or renames it (the people import).
pub async fn upsert_organization(
    db: &impl ConnectionTrait,
    org: &Organization,
) -> Result<(), StoreError> {
    let row = organization::ActiveModel {
        cbe: Set(org.cbe.to_string()),
        name: Set(org.name.clone()),
        created_at: Set(org.created_at),
    };
    organization::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(organization::Column::Cbe)
                .update_column(organization::Column::Name)
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

pub async fn get_organization(
    db: &impl ConnectionTrait,
    cbe: &Cbe,
) -> Result<Option<Organization>, StoreError> {
    let Some(row) = organization::Entity::find_by_id(cbe.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Organization {
        cbe: cbe.clone(),
        name: row.name,
        created_at: row.created_at,
    }))
}

// ---- groups -------------------------------------------------------------------------

/// The professionals of quality `quality` among the members of organization `cbe` (the
/// persons holding an organization profile for it), with the NIHII of that profile:
/// read from the authentic source itself, so that a change of profiles changes the
/// group at once. On PostgreSQL by JSON containment (`@>`, served by the GIN index on
/// `profiles`), on SQLite with `json_each`.
pub async fn members_of_quality(
    db: &impl ConnectionTrait,
    cbe: &Cbe,
    quality: &str,
) -> Result<Vec<(Ssin, Nihii)>, StoreError> {
    use sea_orm::{DatabaseBackend, FromQueryResult, JsonValue, Statement};
    #[derive(FromQueryResult)]
    struct Row {
        ssin: String,
        profiles: JsonValue,
    }
    let backend = db.get_database_backend();
    let statement = match backend {
        DatabaseBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT ssin, profiles FROM person WHERE profiles @> $1 AND profiles @> $2 ORDER BY ssin",
            [
                serde_json::json!([{"profile": "organization", "cbe": cbe.as_str()}]).into(),
                serde_json::json!([{"profile": "professional", "quality": quality}]).into(),
            ],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT ssin, profiles FROM person \
             WHERE EXISTS (SELECT 1 FROM json_each(person.profiles) \
                 WHERE json_extract(value, '$.profile') = 'organization' AND json_extract(value, '$.cbe') = ?) \
             AND EXISTS (SELECT 1 FROM json_each(person.profiles) \
                 WHERE json_extract(value, '$.profile') = 'professional' AND json_extract(value, '$.quality') = ?) \
             ORDER BY ssin",
            [cbe.as_str().into(), quality.into()],
        ),
    };
    let rows = Row::find_by_statement(statement).all(db).await?;
    let mut members = Vec::new();
    for row in rows {
        let corrupt = |e: String| StoreError::Corrupt(format!("person {}: {e}", row.ssin));
        let ssin = Ssin::parse(&row.ssin).map_err(|e| corrupt(e.to_string()))?;
        let profiles: Vec<Profile> =
            serde_json::from_value(row.profiles.clone()).map_err(|e| corrupt(e.to_string()))?;
        for profile in profiles {
            if let Profile::Professional { quality: q, nihii } = profile
                && q == quality
            {
                members.push((ssin.clone(), nihii));
            }
        }
    }
    Ok(members)
}
