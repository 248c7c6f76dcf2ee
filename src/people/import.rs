//! `depot admin import-people FILE`: organizations and persons from a JSON file
//! `{"organizations": [{"cbe", "name"}], "persons": [<as POST /admin/persons>]}`.
//! Everything is checked before anything is written; then one transaction writes it
//! all. Persons that exist are updated (the import can be re-run).

use anyhow::Context;
use sea_orm::TransactionTrait;
use serde::Deserialize;

use super::model::{NewPerson, Organization, PersonRegistration, Profile};
use super::store::{self, PersonRow};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::db;
use crate::people::{Cbe, credentials};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportFile {
    #[serde(default)]
    organizations: Vec<OrganizationEntry>,
    #[serde(default)]
    persons: Vec<PersonRegistration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationEntry {
    cbe: String,
    name: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub organizations: usize,
    pub persons: usize,
}

pub async fn import_file(config: &Config, path: &std::path::Path) -> anyhow::Result<ImportReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ImportFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid import file", path.display()))?;

    let mut organizations = Vec::new();
    for (i, o) in file.organizations.iter().enumerate() {
        let cbe = Cbe::parse(&o.cbe).map_err(|e| anyhow::anyhow!("organizations[{i}].cbe: {e}"))?;
        let name = o.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            anyhow::bail!("organizations[{i}].name: must be 1 to 200 characters");
        }
        organizations.push((cbe, name.to_owned()));
    }
    let mut persons: Vec<NewPerson> = Vec::new();
    for (i, p) in file.persons.into_iter().enumerate() {
        let person = p
            .validate()
            .map_err(|e| anyhow::anyhow!("persons[{i}].{}: {}", e.field, e.reason))?;
        if persons.iter().any(|q| q.ssin == person.ssin) {
            anyhow::bail!("persons[{i}].ssin: {} is listed twice", person.ssin);
        }
        persons.push(person);
    }

    let database = db::connect(config).await?;
    db::migrate(&database).await?;
    for (i, person) in persons.iter().enumerate() {
        for (j, profile) in person.profiles.iter().enumerate() {
            if let Profile::Organization { cbe } = profile
                && !organizations.iter().any(|(c, _)| c == cbe)
                && store::get_organization(&database, cbe).await?.is_none()
            {
                anyhow::bail!(
                    "persons[{i}].profiles[{j}].cbe: no organization {cbe} is registered"
                );
            }
        }
    }
    let master = MasterKey::load_or_create(&config.master_key_file)?;
    let protected = persons
        .iter()
        .map(|p| credentials::protect(p, &master))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let now = Clock::system().now();
    let txn = database.begin().await?;
    for (cbe, name) in &organizations {
        let org = Organization {
            cbe: cbe.clone(),
            name: name.clone(),
            created_at: now,
        };
        store::upsert_organization(&txn, &org).await?;
    }
    for (person, (password_hash, sealed_totp_secret)) in persons.iter().zip(protected) {
        let row = PersonRow {
            ssin: &person.ssin,
            name: &person.name,
            password_hash,
            sealed_totp_secret,
            profiles: &person.profiles,
        };
        store::upsert_person(&txn, &row, now).await?;
    }
    txn.commit().await?;
    Ok(ImportReport {
        organizations: organizations.len(),
        persons: persons.len(),
    })
}
