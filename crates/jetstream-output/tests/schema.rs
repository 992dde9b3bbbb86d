//! Checks of exported JSON against the nimbus jetstream schemas, with the `jsonschema` crate.

use serde_json::Value;

/// A schema of `generated-jetstream-schemas/` (`Statistics`, `AnalysisErrors`, `Metadata`).
pub(crate) fn nimbus_schema(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/experimenter/mozilla-nimbus-schemas/generated-jetstream-schemas/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("schema")).expect("schema json")
}

/// Read an exported file, check it is compact JSON valid against the nimbus schema `name`,
/// and return it parsed.
pub(crate) fn read_valid(path: &std::path::Path, name: &str) -> Value {
    let text = std::fs::read_to_string(path).expect("exported file");
    let json: Value = serde_json::from_str(&text).expect("json");
    validate(&nimbus_schema(name), &json)
        .unwrap_or_else(|e| panic!("{} against the nimbus {name} schema: {e}", path.display()));
    assert_eq!(
        serde_json::to_string(&json).expect("json"),
        text,
        "compact separators"
    );
    json
}

/// Check `value` against `schema`; the error lists every violation with its instance path
/// (a JSON pointer, `/` for the document itself).
pub(crate) fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| format!("invalid schema: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/" } else { &at })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} schema violation(s):\n  {}",
            errors.len(),
            errors.join("\n  ")
        ))
    }
}

#[test]
fn the_checker_rejects_what_the_schema_forbids() {
    let schema = nimbus_schema("Statistics");
    assert!(
        validate(
            &schema,
            &serde_json::json!([{"metric": "m", "statistic": "s", "branch": "b"}])
        )
        .is_ok()
    );
    for bad in [
        serde_json::json!([{"metric": "m", "statistic": "s"}]),
        serde_json::json!([{"metric": "m", "statistic": "s", "branch": "b", "window_index": 1}]),
        serde_json::json!([{"metric": "m", "statistic": "s", "branch": "b", "ci_width": 1.5}]),
        serde_json::json!([{"metric": "m", "statistic": "s", "branch": "b", "analysis_basis": "x"}]),
        serde_json::json!([{"metric": "m", "statistic": "s", "branch": "b", "point": "1.5"}]),
        serde_json::json!({"metric": "m"}),
    ] {
        assert!(validate(&schema, &bad).is_err(), "{bad}");
    }
}

#[test]
fn every_violation_is_listed_with_its_path() {
    let schema = nimbus_schema("Statistics");
    let bad = serde_json::json!([
        {"metric": "m", "statistic": "s", "branch": "b", "point": 0.5},
        {"metric": "m", "statistic": "s", "branch": "b", "point": "0.5"},
        {"metric": "m", "branch": "b", "analysis_basis": "nope"},
    ]);
    let e = validate(&schema, &bad).expect_err("invalid rows");
    assert!(e.starts_with("3 schema violation(s):"), "{e}");
    for at in ["/1/point: ", "/2: ", "/2/analysis_basis: "] {
        assert!(e.contains(&format!("\n  {at}")), "{at} in {e}");
    }
    assert!(e.contains("\"statistic\" is a required property"), "{e}");
    let e = validate(&schema, &serde_json::json!({"metric": "m"})).expect_err("not an array");
    assert!(e.contains("\n  /: "), "{e}");
}
