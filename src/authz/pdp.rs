//! The policy decision point: a policy file (resource × profile × quality →
//! permissions, and a minimum eIDAS level per resource) evaluated when a token is
//! issued into its `permissions` claim. See `default_policy.toml` for the format.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::scope::{Acr, Resource};

const DEFAULT_POLICY: &str = include_str!("default_policy.toml");
const PROFILES: &[&str] = &[
    "*",
    "citizen",
    "professional",
    "organization",
    "mandatee",
    "system",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    resources: BTreeMap<String, ResourcePolicy>,
    #[serde(default)]
    rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcePolicy {
    min_acr: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    resource: String,
    profile: String,
    quality: Option<String>,
    permissions: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    resource: Resource,
    profile: String,
    quality: Option<String>,
    permissions: Vec<String>,
}

/// Who is asking, as far as the policy cares.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub profile: &'a str,
    pub quality: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    min_acr: BTreeMap<Resource, Acr>,
}

#[derive(Debug, thiserror::Error)]
#[error("policy {source_name}: {reason}")]
pub struct PolicyError {
    source_name: String,
    reason: String,
}

fn resource_named(name: &str) -> Option<Resource> {
    Resource::ALL.into_iter().find(|r| r.policy_name() == name)
}

impl Policy {
    pub fn builtin() -> Result<Self, PolicyError> {
        Self::parse(DEFAULT_POLICY, "built-in")
    }

    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        let Some(path) = path else {
            return Self::builtin();
        };
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source_name: &str) -> Result<Self, PolicyError> {
        let fail = |reason: String| PolicyError {
            source_name: source_name.to_owned(),
            reason,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        let mut min_acr = BTreeMap::new();
        for (name, policy) in file.resources {
            let resource =
                resource_named(&name).ok_or_else(|| fail(format!("unknown resource {name:?}")))?;
            if let Some(acr) = policy.min_acr {
                let acr = Acr::parse(&acr)
                    .ok_or_else(|| fail(format!("resources.{name}.min_acr: not an eIDAS level")))?;
                min_acr.insert(resource, acr);
            }
        }
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, r) in file.rules.into_iter().enumerate() {
            let resource = resource_named(&r.resource)
                .ok_or_else(|| fail(format!("rules[{i}].resource: unknown {:?}", r.resource)))?;
            if !PROFILES.contains(&r.profile.as_str()) {
                return Err(fail(format!("rules[{i}].profile: unknown {:?}", r.profile)));
            }
            if r.quality.is_some() && r.profile != "professional" {
                return Err(fail(format!(
                    "rules[{i}].quality: only a professional rule names a quality"
                )));
            }
            rules.push(Rule {
                resource,
                profile: r.profile,
                quality: r.quality,
                permissions: r.permissions,
            });
        }
        Ok(Self { rules, min_acr })
    }

    /// The permissions granted to `subject` for a token whose audience is `resources`.
    pub fn permissions(&self, resources: &[Resource], subject: Subject<'_>) -> Vec<String> {
        let granted: BTreeSet<&str> = self
            .rules
            .iter()
            .filter(|r| resources.contains(&r.resource))
            .filter(|r| r.profile == "*" || r.profile == subject.profile)
            .filter(|r| r.quality.is_none() || r.quality.as_deref() == subject.quality)
            .flat_map(|r| r.permissions.iter().map(String::as_str))
            .collect();
        granted.into_iter().map(str::to_owned).collect()
    }

    /// The lowest level a person's token for these resources may carry.
    pub fn min_acr(&self, resources: &[Resource]) -> Option<Acr> {
        resources
            .iter()
            .filter_map(|r| self.min_acr.get(r).copied())
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
        [resources.depot]
        min_acr = "http://eidas.europa.eu/LoA/substantial"

        [[rules]]
        resource = "depot"
        profile = "*"
        permissions = ["message:read"]

        [[rules]]
        resource = "depot"
        profile = "professional"
        quality = "doctor"
        permissions = ["message:send", "prescription:read"]

        [[rules]]
        resource = "symkeys"
        profile = "professional"
        permissions = ["symkey:create"]
    "#;

    fn subject<'a>(profile: &'a str, quality: Option<&'a str>) -> Subject<'a> {
        Subject { profile, quality }
    }

    #[test]
    fn rules_table() {
        let policy = Policy::parse(POLICY, "test").unwrap();
        let depot = [Resource::Depot];
        let both = [Resource::Depot, Resource::Symkeys];
        let cases: &[(&[Resource], Subject, &[&str])] = &[
            (&depot, subject("citizen", None), &["message:read"]),
            (
                &depot,
                subject("professional", Some("doctor")),
                &["message:read", "message:send", "prescription:read"],
            ),
            (
                &depot,
                subject("professional", Some("nurse")),
                &["message:read"],
            ),
            (
                &both,
                subject("professional", Some("nurse")),
                &["message:read", "symkey:create"],
            ),
            (&[Resource::Tsa], subject("system", None), &[]),
        ];
        for (resources, who, expected) in cases {
            assert_eq!(policy.permissions(resources, *who), *expected, "{who:?}");
        }
        assert_eq!(policy.min_acr(&both), Some(Acr::Substantial));
        assert_eq!(policy.min_acr(&[Resource::Keys]), None);
    }

    #[test]
    fn the_builtin_policy_loads() {
        let policy = Policy::builtin().unwrap();
        assert_eq!(
            policy.permissions(&[Resource::Admin], subject("system", None)),
            ["admin"]
        );
    }

    #[test]
    fn bad_policies_name_the_fault() {
        for (text, fault) in [
            (
                "[[rules]]\nresource='x'\nprofile='*'\npermissions=[]",
                "rules[0].resource",
            ),
            (
                "[[rules]]\nresource='depot'\nprofile='king'\npermissions=[]",
                "rules[0].profile",
            ),
            (
                "[[rules]]\nresource='depot'\nprofile='citizen'\nquality='doctor'\npermissions=[]",
                "rules[0].quality",
            ),
            (
                "[resources.depot]\nmin_acr='high'",
                "resources.depot.min_acr",
            ),
        ] {
            let err = Policy::parse(text, "t").unwrap_err().to_string();
            assert!(err.contains(fault), "{err}");
        }
    }
}
