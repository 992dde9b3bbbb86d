//! A small JSON-Schema checker for the keywords the nimbus jetstream schemas use. Any other
//! keyword fails the check, so a schema it does not understand can never pass silently.

use serde_json::Value;

const IGNORED: &[&str] = &["title", "default", "format", "description"];

/// A schema of `generated-jetstream-schemas/` (`Statistics`, `AnalysisErrors`, `Metadata`).
pub(crate) fn nimbus_schema(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/fixtures/experimenter/mozilla-nimbus-schemas/generated-jetstream-schemas/{name}.schema.json",
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

pub(crate) fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, schema, value, "$")
}

fn check(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(obj) = schema.as_object() else {
        return Err(format!("{at}: schema is not an object"));
    };
    for (key, rule) in obj {
        match key.as_str() {
            "$ref" => {
                let path = rule.as_str().ok_or("bad $ref")?;
                let name = path
                    .strip_prefix("#/$defs/")
                    .ok_or_else(|| format!("unsupported $ref {path}"))?;
                let target = &root["$defs"][name];
                check(root, target, value, at)?;
            }
            "$defs" => {}
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => return Err(format!("{at}: bad type rule")),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    return Err(format!("{at}: {value} is not of type {types:?}"));
                }
            }
            "anyOf" => {
                let options = rule.as_array().ok_or("bad anyOf")?;
                if !options.iter().any(|o| check(root, o, value, at).is_ok()) {
                    return Err(format!("{at}: {value} matches no anyOf option"));
                }
            }
            "enum" => {
                if !rule.as_array().is_some_and(|a| a.contains(value)) {
                    return Err(format!("{at}: {value} not in {rule}"));
                }
            }
            "required" => {
                for r in rule.as_array().ok_or("bad required")? {
                    let r = r.as_str().ok_or("bad required")?;
                    if value.is_object() && value.get(r).is_none() {
                        return Err(format!("{at}: missing required {r:?}"));
                    }
                }
            }
            "properties" => {
                if let Some(fields) = value.as_object() {
                    for (name, sub) in rule.as_object().ok_or("bad properties")? {
                        if let Some(v) = fields.get(name) {
                            check(root, sub, v, &format!("{at}.{name}"))?;
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(fields) = value.as_object() {
                    let known = obj.get("properties").and_then(Value::as_object);
                    for (name, v) in fields {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                return Err(format!("{at}: unexpected property {name:?}"));
                            }
                            Value::Bool(true) => {}
                            sub => check(root, sub, v, &format!("{at}.{name}"))?,
                        }
                    }
                }
            }
            "propertyNames" => {
                if let Some(fields) = value.as_object() {
                    for name in fields.keys() {
                        check(
                            root,
                            rule,
                            &Value::String(name.clone()),
                            &format!("{at}[key]"),
                        )?;
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, v) in items.iter().enumerate() {
                        check(root, rule, v, &format!("{at}[{i}]"))?;
                    }
                }
            }
            "minimum" | "maximum" => {
                if let (Some(x), Some(limit)) = (value.as_f64(), rule.as_f64()) {
                    let ok = if key == "minimum" {
                        x >= limit
                    } else {
                        x <= limit
                    };
                    if !ok {
                        return Err(format!("{at}: {x} violates {key} {limit}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(s), Some(limit)) = (value.as_str(), rule.as_u64()) {
                    let n = s.chars().count() as u64;
                    let ok = if key == "minLength" {
                        n >= limit
                    } else {
                        n <= limit
                    };
                    if !ok {
                        return Err(format!("{at}: length {n} violates {key} {limit}"));
                    }
                }
            }
            k if IGNORED.contains(&k) => {}
            other => return Err(format!("{at}: unsupported schema keyword {other:?}")),
        }
    }
    Ok(())
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
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
        serde_json::json!({"metric": "m"}),
    ] {
        assert!(validate(&schema, &bad).is_err(), "{bad}");
    }
}
