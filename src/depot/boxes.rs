//! Whose box is whose (API.md "Depot"): a message to an identifier lands in that
//! identifier's box; a caller reads the boxes of the identifiers its token's identity
//! holds: its SSIN; also its NIHII as a professional; the CBE under an organization
//! profile (and for a system client of that organization); its mandator's as a
//! mandatee.

use serde_json::Value;

use crate::people::Identifier;
use crate::people::model::identifier_parts;

/// The box key of an identifier: `ssin:…`, `nihii:…` or `cbe:…`.
pub fn box_key(id: &Identifier) -> String {
    let (kind, value) = identifier_parts(id);
    format!("{kind}:{value}")
}

/// The inboxes a token's `identity` may read.
pub fn inbox_keys(identity: &Value) -> Vec<String> {
    let text = |name: &str| identity.get(name).and_then(Value::as_str);
    let profile = text("profile").unwrap_or_default();
    let mut keys = Vec::new();
    if let Some(ssin) = text("ssin") {
        keys.push(format!("ssin:{ssin}"));
    }
    match profile {
        "professional" => keys.extend(text("nihii").map(|n| format!("nihii:{n}"))),
        "organization" | "system" => keys.extend(text("cbe").map(|c| format!("cbe:{c}"))),
        "mandatee" => keys.extend(
            identity
                .get("mandator")
                .and_then(|m| serde_json::from_value::<Identifier>(m.clone()).ok())
                .map(|m| box_key(&m)),
        ),
        _ => {}
    }
    keys
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn boxes_of_each_profile() {
        let cases = [
            (
                json!({"profile": "citizen", "ssin": "85073003328"}),
                vec!["ssin:85073003328"],
            ),
            (
                json!({"profile": "professional", "ssin": "85073003328", "quality": "doctor", "nihii": "12345625004"}),
                vec!["ssin:85073003328", "nihii:12345625004"],
            ),
            (
                json!({"profile": "organization", "ssin": "85073003328", "cbe": "0203201340"}),
                vec!["ssin:85073003328", "cbe:0203201340"],
            ),
            (
                json!({"profile": "mandatee", "ssin": "85073003328", "mandator": {"type": "cbe", "value": "0203201340"}}),
                vec!["ssin:85073003328", "cbe:0203201340"],
            ),
            (
                json!({"profile": "system", "cbe": "0203201340"}),
                vec!["cbe:0203201340"],
            ),
            (json!({"profile": "system"}), vec![]),
        ];
        for (identity, expected) in cases {
            assert_eq!(inbox_keys(&identity), expected, "{identity}");
        }
    }
}
