//! Custom resources against their CRD's OpenAPI v3 schema.

use serde_json::Value;

use super::unknown::join;
use super::{Errors, FieldError, go_quote, go_value};

/// Errors of a custom resource against its CRD version's `openAPIV3Schema`: types, required
/// fields, enums, numeric bounds, string lengths and item counts, with the messages of
/// kube-openapi's validator as the API server reports them
/// (`spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"`).
/// `metadata`, `apiVersion` and `kind` are left to [`validate`].
pub fn validate_with_schema(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Errors::default();
    if let Some(map) = obj.as_object() {
        let mut required_missing = Vec::new();
        for key in required_of(schema) {
            if !map.contains_key(key) && !matches!(key, "apiVersion" | "kind" | "metadata") {
                required_missing.push(key.to_string());
            }
        }
        for key in required_missing {
            errs.required(&key, "");
        }
        for (k, v) in map {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(sub) = schema.get("properties").and_then(|p| p.get(k)) {
                check_schema(sub, v, k, &mut errs);
            }
        }
    }
    errs.0
}

fn required_of(schema: &Value) -> impl Iterator<Item = &str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The JSON type name kube-openapi reports for a value.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_schema(schema: &Value, v: &Value, path: &str, errs: &mut Errors) {
    // Nulls of non-nullable fields are pruned before validation; nullable ones are valid.
    if v.is_null() {
        return;
    }
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            errs.invalid(
                path,
                &go_quote(json_type(v)),
                &format!(
                    "{path} in body must be of type integer,string: {}",
                    go_quote(json_type(v))
                ),
            );
        }
        return;
    }
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = json_type(v);
        let ok = got == want || (want == "number" && got == "integer");
        if !ok {
            errs.invalid(
                path,
                &go_quote(got),
                &format!("{path} in body must be of type {want}: {}", go_quote(got)),
            );
            check_enum(schema, v, path, errs);
            return;
        }
    }
    check_enum(schema, v, path, errs);
    check_bounds(schema, v, path, errs);
}

/// `enum`: the supported values are quoted as text, numbers too (`"1", "2"`).
fn check_enum(schema: &Value, v: &Value, path: &str, errs: &mut Errors) {
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let list: Vec<String> = options
            .iter()
            .map(|o| match o {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            })
            .collect();
        errs.push(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                go_value(v),
                list.join(", ")
            ),
        );
    }
}

/// Numeric bounds, string lengths, item counts, then the children.
fn check_bounds(schema: &Value, v: &Value, path: &str, errs: &mut Errors) {
    if let Some(n) = v.as_f64() {
        let shown = go_value(v);
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
            if n < min || (exclusive && n == min) {
                let rel = if exclusive {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                errs.invalid(
                    path,
                    &shown,
                    &format!("{path} in body should be {rel} {}", schema["minimum"]),
                );
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
            if n > max || (exclusive && n == max) {
                let rel = if exclusive {
                    "less than"
                } else {
                    "less than or equal to"
                };
                errs.invalid(
                    path,
                    &shown,
                    &format!("{path} in body should be {rel} {}", schema["maximum"]),
                );
            }
        }
    }
    match v {
        Value::String(text) => {
            let len = text.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                errs.push(
                    "FieldValueTooLong",
                    path,
                    format!("Too long: may not be more than {max} bytes"),
                );
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                errs.invalid(
                    path,
                    &go_quote(text),
                    &format!("{path} in body should be at least {min} chars long"),
                );
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && n > max
            {
                errs.push(
                    "FieldValueTooMany",
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && n < min
            {
                errs.invalid(
                    path,
                    &n.to_string(),
                    &format!("{path} in body should have at least {min} items"),
                );
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_schema(item_schema, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            for key in required_of(schema) {
                if !map.contains_key(key) {
                    errs.required(&join(path, key), "");
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in map {
                let child_path = join(path, k);
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(sub), _) => check_schema(sub, child, &child_path, errs),
                    (None, Some(add)) => check_schema(add, child, &child_path, errs),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}
