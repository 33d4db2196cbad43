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

/// RFC 7386 JSON merge patch, as evanphx/json-patch's MergePatch applies it (nulls inside
/// new values and inside objects of replaced arrays are dropped too).
pub fn json_merge_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    match patch {
        Value::Object(_) => Ok(merge_patch_value(Some(target), patch)),
        Value::Null => err("Invalid JSON Patch"),
        other => err(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_type(other)
        )),
    }
}

fn merge_patch_value(target: Option<&Value>, patch: &Value) -> Value {
    match (target, patch) {
        (Some(Value::Object(t)), Value::Object(pm)) => {
            let mut out = t.clone();
            for (k, pv) in pm {
                if pv.is_null() {
                    out.shift_remove(k);
                } else {
                    let merged = merge_patch_value(out.get(k).filter(|v| !v.is_null()), pv);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        // a document replaced by a non-document is taken as is
        (Some(Value::Object(_)), other) => other.clone(),
        (_, other) => without_nulls(other),
    }
}

/// A value with its null object entries removed at any depth (array items kept), as
/// json-patch's pruneNulls and the typed round trip of an applied config drop them.
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON patch

/// Go's `strconv.Atoi`, with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

fn invalid_index(idx: i64) -> String {
    format!("Unable to access invalid index: {idx}: invalid index referenced")
}

/// An array position as json-patch v4 resolves it (negative indices count from the end);
/// `len` is the number of valid positions.
fn array_index(key: &str, len: usize) -> Result<usize, String> {
    let idx = go_atoi(key)?;
    let n = i64::try_from(len).unwrap_or(i64::MAX);
    let adjusted = if idx < 0 {
        if idx < -n {
            return Err(invalid_index(idx));
        }
        idx + n
    } else {
        idx
    };
    if adjusted >= n {
        return Err(invalid_index(adjusted));
    }
    usize::try_from(adjusted).map_err(|_| invalid_index(idx))
}

/// json-patch's findObject: the container holding the last token of `path`, and that token
/// unescaped (`~1` → `/`, `~0` → `~`).
fn find_object<'v>(doc: &'v mut Value, path: &str) -> Option<(&'v mut Value, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return None;
    }
    let decode = |t: &str| t.replace("~1", "/").replace("~0", "~");
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let part = decode(part);
        cur = match cur {
            Value::Object(m) => m.get_mut(&part)?,
            Value::Array(a) => {
                let i = array_index(&part, a.len()).ok()?;
                a.get_mut(i)?
            }
            _ => return None,
        };
        if !(cur.is_object() || cur.is_array()) {
            return None;
        }
    }
    Some((cur, decode(split[split.len() - 1])))
}

/// A container's value at `key`: `Ok(None)` for a missing object key (json-patch v4 does not
/// treat that as an error), `Err` for a bad array index.
fn container_get(con: &Value, key: &str) -> Result<Option<Value>, String> {
    match con {
        Value::Object(m) => Ok(m.get(key).cloned()),
        Value::Array(a) => Ok(a.get(array_index(key, a.len())?).cloned()),
        _ => Err("unknown object type".into()),
    }
}

fn container_add(con: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(val);
                return Ok(());
            }
            let i = array_index(key, a.len() + 1).map_err(|e| {
                if e.starts_with("strconv") {
                    format!("value was not a proper array index: '{key}': {e}")
                } else {
                    e
                }
            })?;
            a.insert(i, val);
            Ok(())
        }
        _ => Err("unknown object type".into()),
    }
}

fn container_remove(con: &mut Value, key: &str) -> Result<Value, String> {
    match con {
        Value::Object(m) => m
            .shift_remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
        Value::Array(a) => {
            let i = array_index(key, a.len())?;
            Ok(a.remove(i))
        }
        _ => Err("unknown object type".into()),
    }
}

/// RFC 6902 JSON patch, with the behaviour and messages of evanphx/json-patch v4 (what the
/// API server runs): negative indices count from the end, `replace` of a missing object key
/// adds it, a missing `value` is null.
pub fn json_patch(target: &Value, ops: &Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = ops else {
        return err(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            go_type(ops)
        ));
    };
    let mut doc = target.clone();
    for op in ops {
        if !op.is_object() {
            return err(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                go_type(op)
            ));
        }
        json_patch_op(&mut doc, op).map_err(PatchError)?;
    }
    Ok(doc)
}

fn json_patch_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let field = |name: &str| op.get(name).and_then(Value::as_str);
    let kind = field("op").unwrap_or("unknown");
    let path = field("path");
    let from = field("from");
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    const NO_PATH: &str = "operation missing path field: missing value";
    const NO_FROM: &str = "operation, missing from field: missing value";
    match kind {
        "add" => {
            let path = path.ok_or("add operation failed to decode path: missing value")?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!(
                    "add operation does not apply: doc is missing path: \"{path}\": missing value"
                )
            })?;
            container_add(con, &key, value)
                .map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path = path.ok_or("remove operation failed to decode path: missing value")?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!("remove operation does not apply: doc is missing path: \"{path}\": missing value")
            })?;
            container_remove(con, &key)
                .map(drop)
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path = path.ok_or(format!(
                "replace operation failed to decode path: {NO_PATH}"
            ))?;
            if path.is_empty() {
                // json-patch v4 ignores a root replace whose value is not a document
                if value.is_object() || value.is_array() {
                    *doc = value;
                }
                return Ok(());
            }
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!(
                    "replace operation does not apply: doc is missing path: {path}: missing value"
                )
            })?;
            if container_get(con, &key).is_err() {
                return Err(format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                ));
            }
            match con {
                Value::Object(m) => {
                    m.insert(key, value);
                }
                Value::Array(a) => {
                    let i = array_index(&key, a.len())
                        .map_err(|e| format!("error in remove for path: '{path}': {e}"))?;
                    a[i] = value;
                }
                _ => {}
            }
            Ok(())
        }
        "move" => {
            let from = from.ok_or(format!("move operation failed to decode from: {NO_FROM}"))?;
            let (con, key) = find_object(doc, from).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing from path: {from}: missing value"
                )
            })?;
            container_get(con, &key)
                .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let val = container_remove(con, &key)
                .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let path = path.ok_or(format!("move operation failed to decode path: {NO_PATH}"))?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!("move operation does not apply: doc is missing destination path: {path}: missing value")
            })?;
            container_add(con, &key, val)
                .map_err(|e| format!("error in move for path: '{path}': {e}"))
        }
        "copy" => {
            let from = from.ok_or(format!("copy operation failed to decode from: {NO_FROM}"))?;
            let (con, key) = find_object(doc, from).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing from path: {from}: missing value"
                )
            })?;
            let val = container_get(con, &key)
                .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
                .unwrap_or(Value::Null);
            let path = path.ok_or("copy operation failed to decode path: missing value")?;
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!("copy operation does not apply: doc is missing destination path: {path}: missing value")
            })?;
            container_add(con, &key, val)
                .map_err(|e| format!("error while adding value during copy: {e}"))
        }
        "test" => {
            let path = path.ok_or(format!("test operation failed to decode path: {NO_PATH}"))?;
            let failed = || format!("testing value {path} failed: test failed");
            if path.is_empty() {
                return if *doc == value { Ok(()) } else { Err(failed()) };
            }
            let (con, key) = find_object(doc, path).ok_or_else(|| {
                format!("test operation does not apply: is missing path: {path}: missing value")
            })?;
            let got = container_get(con, &key)
                .map_err(|e| format!("error in test for path: '{path}': {e}"))?
                .unwrap_or(Value::Null);
            // json-patch compares the raw JSON: 2 and 2.0 differ, as here
            if got == value { Ok(()) } else { Err(failed()) }
        }
        other => Err(format!("Unexpected kind: {other}")),
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
    if let Some(d) = patch.get(DIRECTIVE) {
        // strategicpatch's handleDirectiveInMergeMap: `delete` leaves an empty map
        return match d.as_str() {
            Some("replace") => Ok(Some(strip_directives_map(&patch))),
            Some("delete") => Ok(Some(Map::new())),
            _ => err(format!(
                "unknown patch type: {} in map: {}",
                go_fmt(d),
                go_fmt(&Value::Object(patch.clone()))
            )),
        };
    }
    if let Some(retain) = patch.shift_remove(RETAIN_KEYS) {
        let bad = || PatchError("invalid patch format of retainKeys".into());
        let Value::Array(keys) = &retain else {
            return Err(bad());
        };
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        // every field the patch sets must be retained (nulls and directives aside)
        for (k, v) in &patch {
            if !v.is_null() && !k.starts_with('$') && !keep.contains(&k.as_str()) {
                return Err(bad());
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
        let Some(Value::Array(remove)) = patch.shift_remove(&key) else {
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
        let Some(Value::Array(order)) = patch.shift_remove(&key) else {
            return err(format!("invalid type for {key}: expected a list"));
        };
        names.push(field.clone());
        let strategy = patch_strategy(schema, names);
        let merge_key = strategy.as_ref().and_then(|s| s.merge_key.clone());
        let original_list = original.get(&field).and_then(Value::as_array).cloned();
        let patch_list = patch.shift_remove(&field);
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
            original.shift_remove(&k);
            continue;
        }
        names.push(k.clone());
        let merged = merge_value(original.get(&k).cloned(), &pv, schema, names);
        names.pop();
        // insert keeps an existing key in its place
        match merged? {
            Some(v) => {
                original.insert(k, v);
            }
            None => {
                original.shift_remove(&k);
            }
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
    let strategy = patch_strategy(schema, names).filter(|s| s.merge);
    let Some(strategy) = strategy else {
        // lists without a merge strategy are replaced by the patch's
        return Ok(strip_directives_list(patch));
    };
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let maps = original.iter().chain(patch).any(Value::is_object);
    let merge_key = strategy.merge_key.clone();
    let (server, patch_items, merged) = if !maps {
        // primitives: a union without duplicates, ordered below
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        (original, patch.to_vec(), merged)
    } else {
        let Some(key) = &merge_key else {
            return err("cannot merge lists without merge key for type map");
        };
        let (server, patch_items) = merge_special_elements(original, patch, key)?;
        let mut merged = server.clone();
        for p in &patch_items {
            let Some(kv) = p.get(key) else {
                return err(format!(
                    "map: {} does not contain declared merge key: {key}",
                    go_fmt(p)
                ));
            };
            match merged.iter().position(|o| o.get(key) == Some(kv)) {
                Some(i) => {
                    let orig = std::mem::take(&mut merged[i]);
                    merged[i] = merge_value(Some(orig), p, schema, names)?
                        .unwrap_or(Value::Object(Map::new()));
                }
                None => {
                    merged.push(merge_value(None, p, schema, names)?.unwrap_or(Value::Null));
                }
            }
        }
        (server, patch_items, merged)
    };
    // patch items in the patch's order, server-only items in the server's (strategicpatch's
    // normalizeElementOrder)
    let (in_patch, server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| position(&patch_items, item, &merge_key).is_some());
    let in_patch = sort_by_order(in_patch, &patch_items, &merge_key);
    let server_only = sort_by_order(server_only, &server, &merge_key);
    Ok(merge_sorted(server_only, in_patch, &server, &merge_key))
}

/// Applies the `$patch` elements of a merged list of maps: `delete` removes the items with
/// that key, `replace` makes the other elements the whole list. Returns the server list and
/// the patch elements left to merge.
fn merge_special_elements(
    original: Vec<Value>,
    patch: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut original = original;
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for p in patch {
        let Some(directive) = p.get(DIRECTIVE) else {
            plain.push(p.clone());
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(kv) = p.get(key) else {
                    return err(format!(
                        "map: {} does not contain declared merge key: {key}",
                        go_fmt(p)
                    ));
                };
                original.retain(|o| o.get(key) != Some(kv));
            }
            Some("replace") => replace = true,
            Some("merge") => return err("merging lists cannot yet be specified in the patch"),
            _ => {
                return err(format!(
                    "unknown patch type: {} in map: {}",
                    go_fmt(directive),
                    go_fmt(p)
                ));
            }
        }
    }
    if replace {
        return Ok((strip_directives_list(&plain), Vec::new()));
    }
    Ok((original, plain))
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
            json_merge_patch(&target, &json!({"l": [{"x": null, "y": 1}, null]})).unwrap()["l"],
            json!([{"y": 1}, null])
        );
        assert_eq!(
            json_merge_patch(&target, &Value::Null).unwrap_err().0,
            "Invalid JSON Patch"
        );
        assert_eq!(
            json_merge_patch(&target, &json!([1])).unwrap_err().0,
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }

    #[test]
    fn json_patch_cases() {
        let target = json!({"a": {"b": [1, 2, 3]}, "x/y": 1, "t~n": 2});
        let with = |f: &dyn Fn(&mut Value)| {
            let mut t = target.clone();
            f(&mut t);
            t
        };
        let ok = [
            (
                json!([{"op": "add", "path": "/a/c", "value": 5}]),
                with(&|t| t["a"]["c"] = json!(5)),
            ),
            (
                json!([{"op": "add", "path": "/a/b/1", "value": 9}]),
                with(&|t| t["a"]["b"] = json!([1, 9, 2, 3])),
            ),
            (
                json!([{"op": "add", "path": "/a/b/-", "value": 4}]),
                with(&|t| t["a"]["b"] = json!([1, 2, 3, 4])),
            ),
            (
                json!([{"op": "add", "path": "/a/b/3", "value": 4}]),
                with(&|t| t["a"]["b"] = json!([1, 2, 3, 4])),
            ),
            // json-patch v4: Atoi takes leading zeros, negative indices count from the end
            (
                json!([{"op": "add", "path": "/a/b/01", "value": 9}]),
                with(&|t| t["a"]["b"] = json!([1, 9, 2, 3])),
            ),
            (
                json!([{"op": "remove", "path": "/a/b/-1"}]),
                with(&|t| t["a"]["b"] = json!([1, 2])),
            ),
            (
                json!([{"op": "remove", "path": "/a/b/0"}]),
                with(&|t| t["a"]["b"] = json!([2, 3])),
            ),
            (
                json!([{"op": "remove", "path": "/x~1y"}, {"op": "remove", "path": "/t~0n"}]),
                json!({"a": {"b": [1, 2, 3]}}),
            ),
            (
                json!([{"op": "replace", "path": "/a/b", "value": "s"}]),
                with(&|t| t["a"]["b"] = json!("s")),
            ),
            // json-patch v4 replaces a missing object key by adding it
            (
                json!([{"op": "replace", "path": "/new", "value": 1}]),
                with(&|t| t["new"] = json!(1)),
            ),
            (
                json!([{"op": "move", "from": "/x~1y", "path": "/a/m"}]),
                json!({"a": {"b": [1, 2, 3], "m": 1}, "t~n": 2}),
            ),
            (
                json!([{"op": "copy", "from": "/a/b/2", "path": "/c"}]),
                with(&|t| t["c"] = json!(3)),
            ),
            (
                json!([{"op": "test", "path": "/a/b/1", "value": 2}, {"op": "add", "path": "/z"}]),
                with(&|t| t["z"] = Value::Null),
            ),
            (
                json!([{"op": "test", "path": "/missing", "value": null}]),
                target.clone(),
            ),
            (
                json!([{"op": "replace", "path": "", "value": {"new": true}}]),
                json!({"new": true}),
            ),
            (
                json!([{"op": "replace", "path": "", "value": 7}]),
                target.clone(),
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
                json!([{"op": "test", "path": "/a/b/1", "value": 2.0}]),
                "testing value /a/b/1 failed: test failed",
            ),
            (
                json!([{"op": "test", "path": "/q/r", "value": 1}]),
                "test operation does not apply: is missing path: /q/r: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/nope"}]),
                "error in remove for path: '/nope': Unable to remove nonexistent key: nope: missing value",
            ),
            (
                json!([{"op": "remove", "path": "/q/r"}]),
                "remove operation does not apply: doc is missing path: \"/q/r\": missing value",
            ),
            (
                json!([{"op": "replace", "path": "/a/b/9", "value": 1}]),
                "replace operation does not apply: doc is missing key: /a/b/9: missing value",
            ),
            (
                json!([{"op": "replace", "path": "/q/r", "value": 1}]),
                "replace operation does not apply: doc is missing path: /q/r: missing value",
            ),
            (
                json!([{"op": "add", "path": "/a/b/9", "value": 1}]),
                "error in add for path: '/a/b/9': Unable to access invalid index: 9: invalid index referenced",
            ),
            (
                json!([{"op": "add", "path": "/a/b/x", "value": 1}]),
                "error in add for path: '/a/b/x': value was not a proper array index: 'x': strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                json!([{"op": "add", "path": "/q/r", "value": 1}]),
                "add operation does not apply: doc is missing path: \"/q/r\": missing value",
            ),
            (
                json!([{"op": "add", "path": "", "value": 1}]),
                "add operation does not apply: doc is missing path: \"\": missing value",
            ),
            (
                json!([{"op": "add", "value": 1}]),
                "add operation failed to decode path: missing value",
            ),
            (
                json!([{"op": "move", "from": "/nope", "path": "/m"}]),
                "error in move for path: 'nope': Unable to remove nonexistent key: nope: missing value",
            ),
            (
                json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]),
                "move operation does not apply: doc is missing destination path: /a/b/c: missing value",
            ),
            (
                json!([{"op": "copy", "path": "/c"}]),
                "copy operation failed to decode from: operation, missing from field: missing value",
            ),
            (
                json!([{"op": "frob", "path": "/a"}]),
                "Unexpected kind: frob",
            ),
            (json!([{"path": "/a"}]), "Unexpected kind: unknown"),
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
                // strategicpatch's mergeSortedSlice puts items the server lacks first
                "new container goes first",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c:1"}]}}}}),
                Box::new(move |v| {
                    containers(v)[0] == json!({"name": "c", "image": "c:1"})
                        && containers(v).as_array().map(Vec::len) == Some(3)
                }),
            ),
            (
                "patch order wins for patched items, server order for the rest",
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "b", "image": "b:2"}, {"name": "a", "image": "a:2"}]}}}}),
                Box::new(move |v| {
                    containers(v)[0]["name"] == "b" && containers(v)[1]["name"] == "a"
                }),
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
                "finalizers merge as a set, new values first",
                json!({"metadata": {"finalizers": ["c", "b"]}}),
                Box::new(|v| v["metadata"]["finalizers"] == json!(["c", "a", "b"])),
            ),
            (
                "$deleteFromPrimitiveList",
                json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
                Box::new(|v| v["metadata"]["finalizers"] == json!(["b"])),
            ),
            (
                "$patch delete on a map field leaves it empty",
                json!({"spec": {"strategy": {"$patch": "delete"}}}),
                Box::new(|v| v["spec"]["strategy"] == json!({})),
            ),
        ];
        for (name, patch, check) in cases {
            let out = strategic_merge_patch(&d, &patch, &s).unwrap();
            assert!(check(&out), "{name}: {out}");
        }
    }

    fn container_names(d: &Value) -> Vec<&str> {
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect()
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
        let names = container_names(&out);
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
        let names = container_names(&out);
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
            "unknown patch type: frob in map: map[$patch:frob]"
        );
        let bad_retain =
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
        assert_eq!(
            strategic_merge_patch(&d, &bad_retain, &s).unwrap_err().0,
            "invalid patch format of retainKeys"
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
