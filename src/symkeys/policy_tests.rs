//! Table-driven tests of the access-policy decision and of policy parsing.

use super::*;

// Valid identifiers (checksums computed as API.md says).
const PATIENT: &str = "85073003328";
const OTHER: &str = "85073003427";
const NIHII_D1: &str = "12345625004";
const NIHII_D2: &str = "65432141004";
const CBE: &str = "0203201340";

fn ssin(v: &str) -> Selector {
    Selector::Identifier(Identifier::Ssin(Ssin::parse(v).unwrap()))
}
fn nihii(v: &str) -> Selector {
    Selector::Identifier(Identifier::Nihii(Nihii::parse(v).unwrap()))
}
fn cbe(v: &str) -> Selector {
    Selector::Identifier(Identifier::Cbe(Cbe::parse(v).unwrap()))
}
fn quality(v: &str) -> Selector {
    Selector::Quality(v.into())
}
fn profile(p: ProfileKind) -> Selector {
    Selector::Profile(p)
}
fn subject(identity: Value) -> Subject {
    Subject::from_identity(&identity).unwrap()
}
fn citizen(s: &str) -> Subject {
    subject(json!({"profile": "citizen", "ssin": s}))
}
fn professional(s: &str, q: &str, n: &str) -> Subject {
    subject(json!({"profile": "professional", "ssin": s, "quality": q, "nihii": n}))
}
fn mandatee(s: &str, mandator: &str) -> Subject {
    subject(json!({"profile": "mandatee", "ssin": s,
        "mandator": {"type": "ssin", "value": mandator}}))
}

/// `Some(true)` granted, `Some(false)` refused, per case.
#[test]
fn decisions() {
    let patient_or_doctors = AccessPolicy {
        allow: vec![ssin(PATIENT), quality("doctor")],
        deny: vec![nihii(NIHII_D2)],
        mandatees_as_mandator: false,
    };
    let for_mandatees = AccessPolicy {
        mandatees_as_mandator: true,
        ..patient_or_doctors.clone()
    };
    let org = AccessPolicy {
        allow: vec![cbe(CBE), profile(ProfileKind::Mandatee)],
        deny: vec![ssin(OTHER)],
        mandatees_as_mandator: true,
    };
    let system = subject(json!({"profile": "system", "cbe": CBE}));
    let member = subject(json!({"profile": "organization", "cbe": CBE, "ssin": OTHER}));
    let cases: Vec<(&str, &AccessPolicy, Subject, bool, bool)> = vec![
        (
            "the patient",
            &patient_or_doctors,
            citizen(PATIENT),
            false,
            true,
        ),
        (
            "a doctor",
            &patient_or_doctors,
            professional(OTHER, "doctor", NIHII_D1),
            false,
            true,
        ),
        (
            "a nurse",
            &patient_or_doctors,
            professional(OTHER, "nurse", NIHII_D1),
            false,
            false,
        ),
        (
            "the denied doctor",
            &patient_or_doctors,
            professional(OTHER, "doctor", NIHII_D2),
            false,
            false,
        ),
        (
            "another citizen",
            &patient_or_doctors,
            citizen(OTHER),
            false,
            false,
        ),
        (
            "the creator, allowed by nothing",
            &patient_or_doctors,
            citizen(OTHER),
            true,
            true,
        ),
        (
            "the patient as a nurse: the SSIN is the person",
            &patient_or_doctors,
            professional(PATIENT, "nurse", NIHII_D1),
            false,
            true,
        ),
        (
            "a mandatee of the patient, not as mandator",
            &patient_or_doctors,
            mandatee(OTHER, PATIENT),
            false,
            false,
        ),
        (
            "a mandatee of the patient, as mandator",
            &for_mandatees,
            mandatee(OTHER, PATIENT),
            false,
            true,
        ),
        (
            "a mandatee of someone else",
            &for_mandatees,
            mandatee(OTHER, OTHER),
            false,
            false,
        ),
        (
            "the patient as someone's mandatee",
            &patient_or_doctors,
            mandatee(PATIENT, OTHER),
            false,
            true,
        ),
        (
            "a system client of the organization",
            &org,
            system.clone(),
            false,
            true,
        ),
        (
            "a member of the organization, denied by SSIN",
            &org,
            member,
            false,
            false,
        ),
        (
            "a mandatee by profile",
            &org,
            mandatee(PATIENT, PATIENT),
            false,
            true,
        ),
        (
            "a mandatee whose mandator is denied",
            &org,
            mandatee(PATIENT, OTHER),
            false,
            false,
        ),
        (
            "a system client of another CBE",
            &org,
            subject(json!({"profile": "system", "cbe": "0403199702"})),
            false,
            false,
        ),
        (
            "a citizen with the organization's CBE is not it",
            &org,
            subject(json!({"profile": "citizen", "ssin": PATIENT, "cbe": CBE})),
            false,
            false,
        ),
    ];
    for (name, policy, who, creator, expected) in cases {
        let decision = decide(policy, &who, creator);
        assert_eq!(decision.granted(), expected, "{name}: {decision}");
    }
}

#[test]
fn reasons_name_the_deciding_selector() {
    let policy = AccessPolicy {
        allow: vec![quality("nurse"), quality("doctor"), ssin(PATIENT)],
        deny: vec![nihii(NIHII_D2)],
        mandatees_as_mandator: true,
    };
    let d = decide(&policy, &professional(OTHER, "doctor", NIHII_D1), false);
    assert_eq!(
        d.to_string(),
        format!("allowed by allow[1]: quality doctor")
    );
    let d = decide(&policy, &professional(OTHER, "doctor", NIHII_D2), false);
    assert_eq!(
        d.to_string(),
        format!("denied by deny[0]: nihii {NIHII_D2}")
    );
    let d = decide(&policy, &mandatee(OTHER, PATIENT), false);
    assert_eq!(
        d.to_string(),
        format!("allowed by allow[2]: ssin {PATIENT} (as mandator)")
    );
    assert_eq!(
        decide(&policy, &citizen(OTHER), false).to_string(),
        "no allow selector matches"
    );
}

#[test]
fn parsing_names_the_field_at_fault() {
    let ok = json!({"allow": [{"type": "ssin", "value": PATIENT}, {"type": "quality", "value": "doctor"}],
        "deny": [{"type": "nihii", "value": NIHII_D2}], "mandateesAsMandator": true});
    let policy = AccessPolicy::parse(&ok).unwrap();
    assert_eq!(AccessPolicy::parse(&policy.to_json()).unwrap(), policy);
    assert_eq!(policy.deny, vec![nihii(NIHII_D2)]);

    let cases = [
        (json!([]), "policy"),
        (json!({}), "policy.allow"),
        (json!({"allow": []}), "policy.allow"),
        (json!({"allow": {}}), "policy.allow"),
        (
            json!({"allow": [{"type": "email", "value": "a@b"}]}),
            "policy.allow[0].type",
        ),
        (
            json!({"allow": [{"type": "ssin", "value": "85073003300"}]}),
            "policy.allow[0].value",
        ),
        (
            json!({"allow": [{"type": "quality", "value": "doctor"}, {"type": "quality", "value": "wizard"}]}),
            "policy.allow[1].value",
        ),
        (
            json!({"allow": [{"type": "profile", "value": "admin"}]}),
            "policy.allow[0].value",
        ),
        (json!({"allow": [{"type": "cbe"}]}), "policy.allow[0].value"),
        (
            json!({"allow": [{"type": "cbe", "value": CBE, "x": 1}]}),
            "policy.allow[0].x",
        ),
        (json!({"allow": ["doctor"]}), "policy.allow[0]"),
        (
            json!({"allow": [{"type": "quality", "value": "doctor"}], "deny": [{"type": "nihii", "value": "1"}]}),
            "policy.deny[0].value",
        ),
        (
            json!({"allow": [{"type": "quality", "value": "doctor"}], "color": "red"}),
            "policy.color",
        ),
        (
            json!({"allow": [{"type": "quality", "value": "doctor"}], "mandateesAsMandator": "yes"}),
            "policy.mandateesAsMandator",
        ),
    ];
    for (body, field) in cases {
        let err = AccessPolicy::parse(&body).unwrap_err();
        assert_eq!(err.field, field, "{body}: {}", err.detail);
    }
    let many: Vec<Value> = (0..=MAX_SELECTORS)
        .map(|_| json!({"type": "quality", "value": "doctor"}))
        .collect();
    assert_eq!(
        AccessPolicy::parse(&json!({"allow": many}))
            .unwrap_err()
            .field,
        "policy.allow"
    );
}
