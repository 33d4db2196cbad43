//! Patches: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902).
//!
//! Error texts follow the libraries the API server uses (evanphx/json-patch,
//! apimachinery's strategicpatch), since kubectl prints them as they come.

use serde_json::{Map, Value};

use super::schema::{PatchStrategy, TypeSchema};

/// A patch that cannot be applied; the message is what the API server would say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PatchError> {
    Err(PatchError(msg.into()))
}

/// Go's name of a JSON value's type, for unmarshal errors.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// RFC 7386 JSON merge patch.
pub fn json_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_type(patch)
        ));
    }
    Ok(merge_patch_value(Some(target), patch))
}

fn merge_patch_value(target: Option<&Value>, patch: &Value) -> Value {
    let Value::Object(pm) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Some(Value::Object(t)) => t.clone(),
        _ => Map::new(),
    };
    for (k, pv) in pm {
        if pv.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch_value(out.get(k), pv);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// JSON patch

/// Parses an RFC 6901 pointer into its unescaped reference tokens.
fn parse_pointer(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return err(format!(
            "JSON pointer must be empty or start with a \"/\": {pointer:?}"
        ));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// An array index token: digits without leading zeros.
fn parse_index(token: &str, len: usize, allow_end: bool) -> Option<usize> {
    if token.is_empty() || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    if !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let i: usize = token.parse().ok()?;
    if i < len || (allow_end && i == len) {
        Some(i)
    } else {
        None
    }
}

fn get_mut<'v>(doc: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get_mut(t)?,
            Value::Array(a) => {
                let len = a.len();
                a.get_mut(parse_index(t, len, false)?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn get<'v>(doc: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(parse_index(t, a.len(), false)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn op_add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let tokens = parse_pointer(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let missing = || {
        PatchError(format!(
            "add operation does not apply: doc is missing path: {path:?}: missing value"
        ))
    };
    match get_mut(doc, parent).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i = parse_index(last, a.len(), true).ok_or_else(|| {
                    PatchError(format!(
                        "Unable to access invalid index: {last}: invalid index referenced"
                    ))
                })?;
                a.insert(i, value);
            }
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn op_remove(doc: &mut Value, path: &str, op: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let missing = || {
        PatchError(format!(
            "{op} operation does not apply: doc is missing path: {path:?}: missing value"
        ))
    };
    let Some((last, parent)) = tokens.split_last() else {
        return Err(missing());
    };
    match get_mut(doc, parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i = parse_index(last, a.len(), false).ok_or_else(|| {
                PatchError(format!(
                    "Unable to access invalid index: {last}: invalid index referenced"
                ))
            })?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = ops else {
        return err(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            go_type(ops)
        ));
    };
    let mut doc = target.clone();
    for op in ops {
        let field = |name: &str| op.get(name).and_then(Value::as_str);
        let kind = field("op").unwrap_or("");
        let path =
            field("path").ok_or_else(|| PatchError(format!("{kind} operation missing path field")));
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError(format!("{kind} operation, missing value field")))
        };
        let from = || {
            field("from").ok_or_else(|| PatchError(format!("{kind} operation missing from field")))
        };
        match kind {
            "add" => op_add(&mut doc, path?, value()?)?,
            "remove" => {
                op_remove(&mut doc, path?, "remove")?;
            }
            "replace" => {
                let path = path?;
                let v = value()?;
                let tokens = parse_pointer(path)?;
                match get_mut(&mut doc, &tokens) {
                    Some(slot) => *slot = v,
                    None => {
                        return err(format!(
                            "replace operation does not apply: doc is missing key: {path}: missing value"
                        ));
                    }
                }
            }
            "move" => {
                let (from, path) = (from()?, path?);
                if path.starts_with(&format!("{from}/")) {
                    return err(format!(
                        "move operation does not apply: path {path:?} is a child of from {from:?}"
                    ));
                }
                let tokens = parse_pointer(from)?;
                if get(&doc, &tokens).is_none() {
                    return err(format!(
                        "move operation does not apply: doc is missing from path: {from:?}: missing value"
                    ));
                }
                let v = op_remove(&mut doc, from, "move")?;
                op_add(&mut doc, path, v)?;
            }
            "copy" => {
                let (from, path) = (from()?, path?);
                let v = get(&doc, &parse_pointer(from)?).cloned().ok_or_else(|| {
                    PatchError(format!(
                        "copy operation does not apply: doc is missing from path: {from:?}: missing value"
                    ))
                })?;
                op_add(&mut doc, path, v)?;
            }
            "test" => {
                let path = path?;
                let want = value()?;
                let got = get(&doc, &parse_pointer(path)?);
                let ok = match got {
                    Some(g) => json_equal(g, &want),
                    None => want.is_null(),
                };
                if !ok {
                    return err(format!("testing value {path} failed: test failed"));
                }
            }
            other => return err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(doc)
}

/// Equality where numbers compare by value (1 == 1.0), as Go's decoded JSON does.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Go's `%v` of a decoded JSON value, for messages that quote patch fragments.
fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", go_fmt(&m[k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

/// Kubernetes strategic merge patch, with `$patch`, `$setElementOrder`, `$retainKeys` and
/// `$deleteFromPrimitiveList` directives.
pub fn strategic_merge_patch(
    target: &Value,
    patch: &Value,
    schema: &TypeSchema,
) -> Result<Value, PatchError> {
    if schema.is_custom() {
        return err(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        );
    }
    let Value::Object(pm) = patch else {
        return err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_type(patch)
        ));
    };
    let original = target.as_object().cloned().unwrap_or_default();
    match merge_map(original, pm, schema, &mut Vec::new())? {
        Some(m) => Ok(Value::Object(m)),
        None => Ok(Value::Object(Map::new())),
    }
}

/// Merges a patch map into an original map; `None` when the patch deletes the map.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: &TypeSchema,
    names: &mut Vec<String>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    let mut patch = patch.clone();
    if let Some(d) = patch.remove(DIRECTIVE) {
        match d.as_str() {
            Some("replace") => return Ok(Some(strip_directives_map(&patch))),
            Some("delete") => return Ok(None),
            Some("merge") => {}
            _ => {
                return err(format!(
                    "unknown patch type: {} in map: {}",
                    go_fmt(&d),
                    go_fmt(&Value::Object(patch))
                ));
            }
        }
    }
    if let Some(retain) = patch.remove(RETAIN_KEYS) {
        let Value::Array(keys) = &retain else {
            return err(format!("invalid retainKeys directive: {}", go_fmt(&retain)));
        };
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        for k in patch.keys() {
            if !k.starts_with('$') && !keep.contains(&k.as_str()) {
                return err(format!(
                    "the patch has field {k:?} that is not in $retainKeys {}",
                    go_fmt(&retain)
                ));
            }
        }
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    // deletions from primitive lists first, then ordered lists, then the plain keys
    let directive_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(DELETE_FROM_PRIMITIVE_LIST))
        .cloned()
        .collect();
    for key in directive_keys {
        let field = &key[DELETE_FROM_PRIMITIVE_LIST.len()..];
        let Some(Value::Array(remove)) = patch.remove(&key) else {
            return err(format!("invalid type for {key}: expected a list"));
        };
        if let Some(Value::Array(list)) = original.get_mut(field) {
            list.retain(|v| !remove.contains(v));
        }
    }
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in order_keys {
        let field = key[SET_ELEMENT_ORDER.len()..].to_string();
        let Some(Value::Array(order)) = patch.remove(&key) else {
            return err(format!("invalid type for {key}: expected a list"));
        };
        names.push(field.clone());
        let strategy = patch_strategy(schema, names);
        let merge_key = strategy.as_ref().and_then(|s| s.merge_key.clone());
        let original_list = original.get(&field).and_then(Value::as_array).cloned();
        let patch_list = patch.remove(&field);
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(Value::Array(p))) => strip_directives_list(p),
            (Some(_), Some(pv)) => {
                match merge_value(original.get(&field).cloned(), pv, schema, names)? {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                }
            }
            _ => {
                names.pop();
                continue;
            }
        };
        names.pop();
        let in_order = |item: &Value| order.iter().any(|o| same_item(o, item, &merge_key));
        let (patch_items, server_only): (Vec<Value>, Vec<Value>) =
            merged.into_iter().partition(|item| in_order(item));
        let server_order = original_list.unwrap_or_default();
        let patch_items = sort_by_order(patch_items, &order, &merge_key);
        let server_only = sort_by_order(server_only, &server_order, &merge_key);
        original.insert(
            field,
            Value::Array(merge_sorted(
                server_only,
                patch_items,
                &server_order,
                &merge_key,
            )),
        );
    }
    for (k, pv) in patch {
        if pv.is_null() {
            original.remove(&k);
            continue;
        }
        names.push(k.clone());
        let merged = merge_value(original.remove(&k), &pv, schema, names);
        names.pop();
        if let Some(v) = merged? {
            original.insert(k, v);
        }
    }
    Ok(Some(original))
}

fn patch_strategy(schema: &TypeSchema, names: &[String]) -> Option<PatchStrategy> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    schema.patch_strategy(&refs)
}

/// Whether an order entry (`{name: x}` or a primitive) names this item.
fn same_item(order: &Value, item: &Value, merge_key: &Option<String>) -> bool {
    match merge_key {
        Some(k) => match (order.get(k), item.get(k)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        None => order == item,
    }
}

fn position(order: &[Value], item: &Value, merge_key: &Option<String>) -> Option<usize> {
    order.iter().position(|o| same_item(o, item, merge_key))
}

fn sort_by_order(mut items: Vec<Value>, order: &[Value], merge_key: &Option<String>) -> Vec<Value> {
    items.sort_by_key(|item| position(order, item, merge_key).unwrap_or(usize::MAX));
    items
}

/// strategicpatch's mergeSortedSlice: server-only items and patch items interleaved by their
/// position in the server's list; patch items go first when that cannot decide.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &Option<String>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(server_order, l, merge_key), position(server_order, r, merge_key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Merges one patch value into an original value; `None` deletes the field.
fn merge_value(
    original: Option<Value>,
    patch: &Value,
    schema: &TypeSchema,
    names: &mut Vec<String>,
) -> Result<Option<Value>, PatchError> {
    match (original, patch) {
        (Some(Value::Object(o)), Value::Object(p)) => {
            Ok(merge_map(o, p, schema, names)?.map(Value::Object))
        }
        (None, Value::Object(p)) => Ok(merge_map(Map::new(), p, schema, names)?.map(Value::Object)),
        (Some(Value::Array(o)), Value::Array(p)) => {
            Ok(Some(Value::Array(merge_list(o, p, schema, names)?)))
        }
        (None, Value::Array(p)) => Ok(Some(Value::Array(merge_list(
            Vec::new(),
            p,
            schema,
            names,
        )?))),
        (_, other) => Ok(Some(other.clone())),
    }
}

fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    schema: &TypeSchema,
    names: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    // a `{"$patch": "replace"}` element replaces the whole list with the other elements
    let replace = patch.iter().any(|p| {
        p.get(DIRECTIVE).and_then(Value::as_str) == Some("replace")
            && p.as_object().is_some_and(|m| m.len() == 1)
    });
    let strategy = patch_strategy(schema, names).filter(|s| s.merge);
    let Some(strategy) = strategy.filter(|_| !replace) else {
        let items: Vec<Value> = patch
            .iter()
            .filter(|p| p.get(DIRECTIVE).is_none())
            .cloned()
            .collect();
        return Ok(strip_directives_list(&items));
    };
    let Some(key) = strategy.merge_key else {
        // a merged list of primitives: a set union keeping the original order
        let mut out = original;
        for p in patch {
            if p.is_object() {
                continue;
            }
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        return Ok(out);
    };
    let mut out = original;
    for p in patch {
        let Value::Object(pm) = p else {
            // lists of non-maps under a merge key: take the patch as is
            out.push(p.clone());
            continue;
        };
        let Some(kv) = pm.get(&key) else {
            return err(format!(
                "map: {} does not contain declared merge key: {key}",
                go_fmt(p)
            ));
        };
        let found = out.iter().position(|o| o.get(&key) == Some(kv));
        if pm.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
            out.retain(|o| o.get(&key) != Some(kv));
            continue;
        }
        match found {
            Some(i) => {
                let orig = std::mem::take(&mut out[i]);
                match merge_value(Some(orig), p, schema, names)? {
                    Some(v) => out[i] = v,
                    None => {
                        out.remove(i);
                    }
                }
            }
            None => {
                if let Some(v) = merge_value(None, p, schema, names)? {
                    out.push(v);
                }
            }
        }
    }
    Ok(out)
}

fn strip_directives_map(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_directives(v)))
        .collect()
}

fn strip_directives_list(items: &[Value]) -> Vec<Value> {
    items.iter().map(strip_directives).collect()
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives_map(m)),
        Value::Array(a) => Value::Array(strip_directives_list(a)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_cases() {
        let target = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let cases = [
            (
                json!({"a": null}),
                json!({"b": {"c": 2, "d": 3}, "l": [1, 2]}),
            ),
            (
                json!({"b": {"c": null, "e": 4}}),
                json!({"a": 1, "b": {"d": 3, "e": 4}, "l": [1, 2]}),
            ),
            (
                json!({"l": [3]}),
                json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [3]}),
            ),
            (json!({"b": 5}), json!({"a": 1, "b": 5, "l": [1, 2]})),
            (
                json!({"n": {"x": null, "y": 1}}),
                json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2], "n": {"y": 1}}),
            ),
            (json!({"missing": null}), target.clone()),
        ];
        for (patch, want) in cases {
            assert_eq!(json_merge_patch(&target, &patch).unwrap(), want, "{patch}");
        }
        assert_eq!(
            json_merge_patch(&target, &json!([1])).unwrap_err().0,
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }

    #[test]
    fn json_patch_cases() {
        let target = json!({"a": {"b": [1, 2, 3]}, "x/y": 1, "t~n": 2});
        let ok = [
            (
                json!([{"op": "add", "path": "/a/c", "value": 5}]),
                json!({"a": {"b": [1, 2, 3], "c": 5}, "x/y": 1, "t~n": 2}),
            ),
            (
                json!([{"op": "add", "path": "/a/b/1", "value": 9}]),
                json!({"a": {"b": [1, 9, 2, 3]}, "x/y": 1, "t~n": 2}),
            ),
            (
                json!([{"op": "add", "path": "/a/b/-", "value": 4}]),
                json!({"a": {"b": [1, 2, 3, 4]}, "x/y": 1, "t~n": 2}),
            ),
            (
                json!([{"op": "add", "path": "/a/b/3", "value": 4}]),
                json!({"a": {"b": [1, 2, 3, 4]}, "x/y": 1, "t~n": 2}),
            ),
            (
                json!([{"op": "remove", "path": "/a/b/0"}]),
                json!({"a": {"b": [2, 3]}, "x/y": 1, "t~n": 2}),
            ),
            (
                json!([{"op": "remove", "path": "/x~1y"}, {"op": "remove", "path": "/t~0n"}]),
                json!({"a": {"b": [1, 2, 3]}}),
            ),
            (
                json!([{"op": "replace", "path": "/a/b", "value": "s"}]),
                json!({"a": {"b": "s"}, "x/y": 1, "t~n": 2}),
            ),
            (
                json!([{"op": "move", "from": "/x~1y", "path": "/a/m"}]),
                json!({"a": {"b": [1, 2, 3], "m": 1}, "t~n": 2}),
            ),
            (
                json!([{"op": "copy", "from": "/a/b/2", "path": "/c"}]),
                json!({"a": {"b": [1, 2, 3]}, "x/y": 1, "t~n": 2, "c": 3}),
            ),
            (
                json!([{"op": "test", "path": "/a/b/1", "value": 2.0}, {"op": "add", "path": "/z", "value": null}]),
                json!({"a": {"b": [1, 2, 3]}, "x/y": 1, "t~n": 2, "z": null}),
            ),
            (
                json!([{"op": "replace", "path": "", "value": {"new": true}}]),
                json!({"new": true}),
            ),
            (json!([]), target.clone()),
        ];
        for (ops, want) in ok {
            assert_eq!(json_patch(&target, &ops).unwrap(), want, "{ops}");
        }
        let bad = [
            (
                json!([{"op": "test", "path": "/a/b/0", "value": 7}]),
                "testing value /a/b/0 failed: test failed",
            ),
            (
                json!([{"op": "remove", "path": "/nope"}]),
                "remove operation does not apply: doc is missing path: \"/nope\": missing value",
            ),
            (
                json!([{"op": "replace", "path": "/nope", "value": 1}]),
                "replace operation does not apply: doc is missing key: /nope: missing value",
            ),
            (
                json!([{"op": "add", "path": "/a/b/9", "value": 1}]),
                "Unable to access invalid index: 9: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "/a/b/01", "value": 1}]),
                "Unable to access invalid index: 01: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "/q/r", "value": 1}]),
                "add operation does not apply: doc is missing path: \"/q/r\": missing value",
            ),
            (
                json!([{"op": "frob", "path": "/a"}]),
                "Unexpected kind: frob",
            ),
            (
                json!([{"op": "add", "path": "/a"}]),
                "add operation, missing value field",
            ),
            (
                json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
                "move operation does not apply: path \"/a/b/c\" is a child of from \"/a\"",
            ),
            (
                json!({"op": "add"}),
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
            ),
        ];
        for (ops, want) in bad {
            assert_eq!(json_patch(&target, &ops).unwrap_err().0, want, "{ops}");
        }
        // a failing op leaves nothing half-applied: the caller gets an error, not a document
        assert!(
            json_patch(
                &target,
                &json!([{"op": "add", "path": "/k", "value": 1},
                                            {"op": "test", "path": "/k", "value": 2}])
            )
            .is_err()
        );
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"},
                         "finalizers": ["a", "b"]},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {"spec": {
                    "containers": [
                        {"name": "a", "image": "a:1", "args": ["x", "y"],
                         "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}]},
                        {"name": "b", "image": "b:1"}
                    ],
                    "tolerations": [{"key": "k1"}]
                }}
            }
        })
    }

    type Check = Box<dyn Fn(&Value) -> bool>;

    #[test]
    fn strategic_merge_patch_cases() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let d = deployment();
        let containers = |v: &Value| v["spec"]["template"]["spec"]["containers"].clone();
        let cases: Vec<(&str, Value, Check)> = vec![
            (
                "merge container by name",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}}}),
                Box::new(move |v| {
                    containers(v)
                        == json!([
                 {"name": "a", "image": "a:1", "args": ["x", "y"],
                  "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}]},
                 {"name": "b", "image": "b:2"}])
                }),
            ),
            (
                "new container is appended",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c:1"}]}}}}),
                Box::new(move |v| containers(v)[2] == json!({"name": "c", "image": "c:1"})),
            ),
            (
                "$patch delete removes a list item",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}}),
                Box::new(move |v| containers(v) == json!([{"name": "b", "image": "b:1"}])),
            ),
            (
                "null deletes a map key",
                json!({"metadata": {"labels": {"tier": null}}}),
                Box::new(|v| v["metadata"]["labels"] == json!({"app": "web"})),
            ),
            (
                "lists without a strategy are replaced",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["z"]}],
                                                   "tolerations": [{"key": "k2"}]}}}}),
                Box::new(|v| {
                    v["spec"]["template"]["spec"]["containers"][0]["args"] == json!(["z"])
                        && v["spec"]["template"]["spec"]["tolerations"] == json!([{"key": "k2"}])
                }),
            ),
            (
                "nested env merges by name",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "E2", "value": "two"}]}]}}}}),
                Box::new(|v| {
                    v["spec"]["template"]["spec"]["containers"][0]["env"]
                        == json!([{"name": "E1", "value": "1"}, {"name": "E2", "value": "two"}])
                }),
            ),
            (
                "$patch replace on a map",
                json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}),
                Box::new(|v| v["spec"]["strategy"] == json!({"type": "Recreate"})),
            ),
            (
                "$patch replace element on a merged list",
                json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "z", "image": "z"}]}}}}),
                Box::new(move |v| containers(v) == json!([{"name": "z", "image": "z"}])),
            ),
            (
                "$retainKeys drops the other keys",
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                Box::new(|v| v["spec"]["strategy"] == json!({"type": "Recreate"})),
            ),
            (
                "finalizers merge as a set",
                json!({"metadata": {"finalizers": ["b", "c"]}}),
                Box::new(|v| v["metadata"]["finalizers"] == json!(["a", "b", "c"])),
            ),
            (
                "$deleteFromPrimitiveList",
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
                Box::new(|v| v["metadata"]["finalizers"] == json!(["b"])),
            ),
            (
                "$patch delete on a map field",
                json!({"spec": {"strategy": {"$patch": "delete"}}}),
                Box::new(|v| v["spec"].get("strategy").is_none()),
            ),
        ];
        for (name, patch, check) in cases {
            let out = strategic_merge_patch(&d, &patch, &s).unwrap();
            assert!(check(&out), "{name}: {out}");
        }
    }

    #[test]
    fn strategic_merge_patch_set_element_order_as_kubectl_edit_sends_it() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let d = deployment();
        // kubectl edit: image of b changed, order as in the edited document
        let edit = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"image": "b:2", "name": "b"}]}}}});
        let out = strategic_merge_patch(&d, &edit, &s).unwrap();
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][1]["image"],
            "b:2"
        );
        // a container inserted in the middle lands where the order says
        let insert = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}, {"name": "b"}],
            "containers": [{"image": "c:1", "name": "c"}]}}}});
        let out = strategic_merge_patch(&d, &insert, &s).unwrap();
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "c", "b"]);
        // reordering alone, and env order inside a container
        let reorder = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "$setElementOrder/env": [{"name": "E2"}, {"name": "E1"}]}]}}}});
        let out = strategic_merge_patch(&d, &reorder, &s).unwrap();
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["name"], "b");
        assert_eq!(
            c[1]["env"],
            json!([{"name": "E2", "value": "2"}, {"name": "E1", "value": "1"}])
        );
        assert!(!out.to_string().contains('$'), "no directive left: {out}");
    }

    #[test]
    fn strategic_merge_patch_errors() {
        let s = TypeSchema::for_kind("apps", "Deployment", None);
        let d = deployment();
        let missing_key = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        assert_eq!(
            strategic_merge_patch(&d, &missing_key, &s).unwrap_err().0,
            "map: map[image:x] does not contain declared merge key: name"
        );
        let bad_directive = json!({"spec": {"strategy": {"$patch": "frob"}}});
        assert_eq!(
            strategic_merge_patch(&d, &bad_directive, &s).unwrap_err().0,
            "unknown patch type: frob in map: map[]"
        );
        let crd = TypeSchema::for_kind("example.com", "Widget", Some(&json!({"type": "object"})));
        assert!(
            strategic_merge_patch(&d, &json!({}), &crd)
                .unwrap_err()
                .0
                .contains("unknown format")
        );
    }
}
