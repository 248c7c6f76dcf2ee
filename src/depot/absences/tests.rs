use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
}

fn doctor() -> Holder {
    Holder::of(&json!({"profile": "professional", "ssin": "85073003328", "quality": "doctor", "nihii": "12345625004"}))
        .unwrap()
}

fn request(from: Option<&str>, until: &str, substitutes: Value) -> AbsenceRequest {
    serde_json::from_value(json!({"from": from, "until": until, "substitutes": substitutes}))
        .unwrap()
}

fn field_of(e: AbsenceError) -> String {
    match e {
        AbsenceError::Field { field, .. } => field,
        other => panic!("not a field error: {other}"),
    }
}

#[test]
fn whose_boxes_an_absence_covers() {
    let cases = [
        (
            json!({"profile": "citizen", "ssin": "85073003328"}),
            Some(("ssin:85073003328", vec!["ssin:85073003328"])),
        ),
        (
            json!({"profile": "professional", "ssin": "85073003328", "nihii": "12345625004"}),
            Some((
                "ssin:85073003328",
                vec!["nihii:12345625004", "ssin:85073003328"],
            )),
        ),
        // A person acting for an organization: the organization is absent, not them.
        (
            json!({"profile": "organization", "ssin": "85073003328", "cbe": "0203201340"}),
            Some(("cbe:0203201340", vec!["cbe:0203201340"])),
        ),
        (
            json!({"profile": "system", "cbe": "0203201340"}),
            Some(("cbe:0203201340", vec!["cbe:0203201340"])),
        ),
        (
            json!({"profile": "mandatee", "ssin": "85073003328", "mandator": {"type": "cbe", "value": "0203201340"}}),
            Some(("cbe:0203201340", vec!["cbe:0203201340"])),
        ),
        (json!({"profile": "system"}), None),
        (json!({}), None),
    ];
    for (identity, expected) in cases {
        let expected = expected.map(|(owner, boxes)| Holder {
            owner: owner.to_owned(),
            boxes: boxes.into_iter().map(str::to_owned).collect(),
        });
        assert_eq!(Holder::of(&identity), expected, "{identity}");
    }
}

#[test]
fn a_request_is_checked_field_by_field() {
    let nurse = json!([{"type": "ssin", "value": "90010100123"}]);
    let Checked {
        from,
        until,
        substitutes,
    } = checked(
        &request(None, "2026-12-20T17:00:00.1234Z", nurse.clone()),
        &doctor(),
        now(),
    )
    .unwrap();
    assert_eq!(from, now());
    assert_eq!(until.to_rfc3339(), "2026-12-20T17:00:00.123+00:00");
    assert_eq!(serde_json::to_value(&substitutes).unwrap(), nurse);

    let refused = [
        (request(None, "tomorrow", nurse.clone()), "until"),
        (
            request(Some("x"), "2026-12-20T17:00:00Z", nurse.clone()),
            "from",
        ),
        (
            request(
                Some("2026-12-21T00:00:00Z"),
                "2026-12-20T17:00:00Z",
                nurse.clone(),
            ),
            "until",
        ),
        (
            request(None, "2026-12-05T08:00:00Z", nurse.clone()),
            "until",
        ),
        (
            request(None, "2028-01-01T00:00:00Z", nurse.clone()),
            "until",
        ),
        (
            request(None, "2026-12-20T17:00:00Z", json!([])),
            "substitutes",
        ),
        (
            request(
                None,
                "2026-12-20T17:00:00Z",
                json!([{"type": "ssin", "value": "1"}]),
            ),
            "substitutes[0]",
        ),
        // Oneself, through another of one's boxes.
        (
            request(
                None,
                "2026-12-20T17:00:00Z",
                json!([{"type": "ssin", "value": "90010100123"}, {"type": "nihii", "value": "12345625004"}]),
            ),
            "substitutes[1]",
        ),
        (
            request(
                None,
                "2026-12-20T17:00:00Z",
                json!([{"type": "ssin", "value": "90010100123"}, {"type": "ssin", "value": "90010100123"}]),
            ),
            "substitutes[1]",
        ),
    ];
    for (request, field) in refused {
        let e = checked(&request, &doctor(), now()).unwrap_err();
        assert_eq!(field_of(e), field, "{request:?}");
    }
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"type": "cbe", "value": format!("{:08}", i * 97).chars().take(8).collect::<String>()}))
        .collect();
    let e = checked(
        &request(None, "2026-12-20T17:00:00Z", Value::Array(eleven)),
        &doctor(),
        now(),
    )
    .unwrap_err();
    assert_eq!(field_of(e), "substitutes");
}
