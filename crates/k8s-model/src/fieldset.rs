//! Field sets as managedFields stores them (`fieldsV1`: `f:`, `k:`, `v:`, `i:` and `.` keys):
//! parsing, serializing, path elements and set algebra. Pure data; the sandbox adds the
//! schema-driven parts (the fields of an object), the drift engine reads sets for its
//! managedFieldsManagers ignore rule.
//!
//! The representation mirrors structured-merge-diff's `fieldpath.Set`: `members` are the path
//! elements that are in the set themselves, `children` the elements below which the set has
//! more paths. A path that is both a member and a child prefix is written with a `.` key.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use super::quantity::values_equal;

/// A fieldsV1 document or an object that cannot become a field set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldSetError(pub String);

/// One step of a field path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathElement {
    /// A struct field or map key: `f:name`.
    Field(String),
    /// A list item by its key fields, sorted by field name: `k:{"name":"web"}`.
    Key(Vec<(String, Value)>),
    /// A set item: `v:"x"`.
    Value(Value),
    /// An item of a list without keys: `i:0`.
    Index(usize),
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PathElement {
    /// structured-merge-diff's order: fields, then keys, then values, then indexes.
    fn cmp(&self, other: &Self) -> Ordering {
        use PathElement::*;
        fn rank(pe: &PathElement) -> u8 {
            match pe {
                Field(_) => 0,
                Key(_) => 1,
                Value(_) => 2,
                Index(_) => 3,
            }
        }
        match (self, other) {
            (Field(a), Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Key(a), Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an
                        .as_bytes()
                        .cmp(bn.as_bytes())
                        .then(compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (Value(a), Value(b)) => compare_values(a, b),
            (Index(a), Index(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// Total order of JSON values as structured-merge-diff's `value.Compare`: numbers, strings,
/// booleans, lists, maps, null.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                f.partial_cmp(&g).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let c = compare_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((xk, xv), (yk, yv)) in xs.iter().zip(ys.iter()) {
                let c = xk.cmp(yk).then_with(|| compare_values(xv, yv));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Escapes JSON text as Go's encoding/json (and jsoniter's standard-library mode) do:
/// `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes. Only valid on JSON text, where those
/// characters can stand only inside strings.
pub fn go_escape_html(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

impl PathElement {
    /// The fieldsV1 key of this element: `f:name`, `k:{...}`, `v:...`, `i:0`.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut m = Map::new();
                for (k, v) in fields {
                    m.insert(k.clone(), v.clone());
                }
                format!("k:{}", go_escape_html(&Value::Object(m).to_string()))
            }
            PathElement::Value(v) => format!("v:{}", go_escape_html(&v.to_string())),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a fieldsV1 key.
    pub fn from_fields_v1_key(key: &str) -> Result<PathElement, FieldSetError> {
        let bad = |why: &str| FieldSetError(format!("invalid fieldsV1 key {key:?}: {why}"));
        let (kind, rest) = key.split_at_checked(2).ok_or_else(|| bad("too short"))?;
        match kind {
            "f:" => Ok(PathElement::Field(rest.to_string())),
            "k:" => {
                let v: Value = serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?;
                let Value::Object(m) = v else {
                    return Err(bad("key is not a JSON object"));
                };
                let mut fields: Vec<(String, Value)> = m.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(PathElement::Key(fields))
            }
            "v:" => Ok(PathElement::Value(
                serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?,
            )),
            "i:" => Ok(PathElement::Index(
                rest.parse().map_err(|_| bad("index is not a number"))?,
            )),
            _ => Err(bad("unknown prefix")),
        }
    }
}

impl fmt::Display for PathElement {
    /// As the API server prints paths in conflicts: `.name`, `[name="web"]`, `[="x"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path from the object root.
pub type FieldPath = Vec<PathElement>;

/// Prints a path as the API server does in conflict messages, e.g. `.spec.replicas`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Whether a list item is the one a `k:` key names: each key field holds the key's value
/// (numbers by value, `80` = `80.0`); a field the item lacks or holds null takes `default`.
pub fn item_has_key(
    item: &Value,
    key: &[(String, Value)],
    default: impl Fn(&str) -> Option<Value>,
) -> bool {
    key.iter().all(
        |(name, want)| match item.get(name).filter(|v| !v.is_null()) {
            Some(value) => values_equal(value, want),
            None => default(name).is_some_and(|value| values_equal(&value, want)),
        },
    )
}

/// The set below a leaf element.
static EMPTY: FieldSet = FieldSet {
    members: BTreeSet::new(),
    children: BTreeMap::new(),
};

/// A set of field paths (structured-merge-diff `fieldpath.Set`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set has no paths.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Whether this one-element path is a member (for a `.` key: owned apart from what is below).
    pub fn is_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The elements of the first step, members or prefixes, in the set's order, each with the
    /// set below it (empty for a leaf).
    pub fn entries(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        let mut keys: BTreeSet<&PathElement> = self.members.iter().collect();
        keys.extend(self.children.keys());
        keys.into_iter()
            .map(|pe| (pe, self.children.get(pe).unwrap_or(&EMPTY)))
    }

    /// Adds a path (the empty path is ignored: the root is never a member).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [only] => {
                self.members.insert(only.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether the path is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [only] => self.members.contains(only),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether some member starts with `prefix` (strictly below it, or is it).
    pub fn has_prefix(&self, prefix: &[PathElement]) -> bool {
        match prefix {
            [] => !self.is_empty(),
            [only] => self.members.contains(only) || self.children.contains_key(only),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has_prefix(rest)),
        }
    }

    /// Whether some member lies strictly below `prefix`.
    pub fn has_descendant(&self, prefix: &[PathElement]) -> bool {
        match prefix {
            [] => !self.is_empty(),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|c| c.has_descendant(rest)),
        }
    }

    /// Union of two sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths of `self` that are not in `other` (exact paths, not subtrees).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(pe.clone(), both);
                }
            }
        }
        out
    }

    /// Removes `prefix` and every path below it.
    pub fn remove_subtree(&mut self, prefix: &[PathElement]) {
        match prefix {
            [] => *self = FieldSet::new(),
            [only] => {
                self.members.remove(only);
                self.children.remove(only);
            }
            [first, rest @ ..] => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_subtree(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Every member path, in the set's order (parents before their children).
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut FieldPath, out: &mut Vec<FieldPath>) {
        for (pe, below) in self.entries() {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            below.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The fieldsV1 JSON as the API server writes it (keys in structured-merge-diff order).
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if include_self && !self.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (pe, below) in self.entries() {
            // A leaf's empty set emits `{}`; a member with paths below gets its `.` key.
            let v = below.emit(self.members.contains(pe));
            m.insert(pe.to_fields_v1_key(), Value::Object(v));
        }
        m
    }

    /// Parses fieldsV1 JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, FieldSetError> {
        let Value::Object(m) = v else {
            return Err(FieldSetError("fieldsV1 must be a JSON object".into()));
        };
        let mut set = FieldSet::new();
        for (key, sub) in m {
            if key == "." {
                continue;
            }
            let pe = PathElement::from_fields_v1_key(key)?;
            let Value::Object(subm) = sub else {
                return Err(FieldSetError(format!(
                    "invalid fieldsV1: value of {key:?} must be an object"
                )));
            };
            if subm.is_empty() || subm.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let child = FieldSet::from_fields_v1(sub)?;
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trip_keeps_upstream_shape() {
        let text = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert_eq!(set.to_fields_v1().to_string(), text);
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(!set.has(&[f("metadata")]));
    }

    #[test]
    fn keys_sort_fields_before_keys_before_values() {
        let mut set = FieldSet::new();
        set.insert(&[f("finalizers"), PathElement::Value(json!("b"))]);
        set.insert(&[f("finalizers"), PathElement::Value(json!("a"))]);
        set.insert(&[f("a")]);
        set.insert(&[f("B")]);
        assert_eq!(
            set.to_fields_v1().to_string(),
            r#"{"f:B":{},"f:a":{},"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}}"#
        );
    }

    #[test]
    fn keys_escape_html_like_go() {
        let pe = PathElement::Value(json!("a&b<c>"));
        assert_eq!(pe.to_fields_v1_key(), r#"v:"a\u0026b\u003cc\u003e""#);
        let back = PathElement::from_fields_v1_key(&pe.to_fields_v1_key()).unwrap();
        assert_eq!(back, pe);
    }

    #[test]
    fn set_algebra() {
        let p1 = vec![f("spec"), f("replicas")];
        let p2 = vec![f("spec"), f("paused")];
        let p3 = vec![f("metadata"), f("labels"), f("app")];
        let mut a = FieldSet::new();
        a.insert(&p1);
        a.insert(&p2);
        let mut b = FieldSet::new();
        b.insert(&p2);
        b.insert(&p3);
        let u = a.union(&b);
        assert_eq!(u.paths().len(), 3);
        let d = a.difference(&b);
        assert_eq!(d.paths(), vec![p1.clone()]);
        let i = a.intersection(&b);
        assert_eq!(i.paths(), vec![p2.clone()]);
        assert!(a.difference(&a).is_empty());
        assert!(u.has_descendant(&[f("metadata")]));
        let mut r = u.clone();
        r.remove_subtree(&[f("spec")]);
        assert_eq!(r.paths(), vec![p3]);
    }

    #[test]
    fn path_strings_like_the_api_server() {
        let p = vec![
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            PathElement::Key(vec![("name".into(), json!("web"))]),
            f("image"),
        ];
        assert_eq!(
            path_string(&p),
            r#".spec.template.spec.containers[name="web"].image"#
        );
        let ports = PathElement::Key(vec![
            ("containerPort".into(), json!(80)),
            ("protocol".into(), json!("TCP")),
        ]);
        assert_eq!(ports.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        assert_eq!(PathElement::Index(3).to_string(), "[3]");
        assert_eq!(PathElement::Value(json!("x")).to_string(), r#"[="x"]"#);
    }

    #[test]
    fn bad_fields_v1_is_an_error() {
        for bad in [
            json!([]),
            json!({"x:1": {}}),
            json!({"i:a": {}}),
            json!({"f:a": 1}),
            json!({"x:y": {}}),
            json!({"k:notjson": {}}),
            json!({"i:one": {}}),
        ] {
            assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_give_leaves_an_empty_set_and_dot_keys_membership() {
        let v = json!({"f:a": {}, "f:b": {".": {}, "f:c": {}}, "f:d": {"f:e": {}}});
        let set = FieldSet::from_fields_v1(&v).unwrap();
        let seen: Vec<(String, bool, usize)> = set
            .entries()
            .map(|(pe, below)| {
                (
                    pe.to_fields_v1_key(),
                    set.is_member(pe),
                    below.paths().len(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("f:a".to_string(), true, 0),
                ("f:b".to_string(), true, 1),
                ("f:d".to_string(), false, 1),
            ]
        );
    }

    #[test]
    fn items_match_keys_by_value_with_defaults() {
        let key = vec![
            ("containerPort".to_string(), json!(80)),
            ("protocol".to_string(), json!("TCP")),
        ];
        let tcp = |field: &str| (field == "protocol").then(|| json!("TCP"));
        let cases = [
            (json!({"containerPort": 80, "protocol": "TCP"}), true),
            (json!({"containerPort": 80.0, "protocol": "TCP"}), true),
            (json!({"containerPort": 80}), true),
            (json!({"containerPort": 80, "protocol": null}), true),
            (json!({"containerPort": 80, "protocol": "UDP"}), false),
            (json!({"containerPort": 81}), false),
            (json!({"protocol": "TCP"}), false),
        ];
        for (item, want) in cases {
            assert_eq!(item_has_key(&item, &key, tcp), want, "{item}");
        }
        assert!(!item_has_key(&json!({}), &key, |_| None));
    }
}
