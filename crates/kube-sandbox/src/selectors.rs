//! Label and field selectors, with the grammar and semantics of k8s.io/apimachinery.

use serde_json::Value;

/// A selector the API server cannot parse; answered 400 BadRequest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

/// A parsed `labelSelector`; all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

/// Splits on commas that are not inside a `( … )` value set.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_set(raw: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let inner = raw
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            SelectorError(format!(
                "unable to parse requirement: found '{}', expected: '('",
                raw.trim()
            ))
        })?;
    let values: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(SelectorError(format!(
            "unable to parse requirement: for 'in', 'notin' operators, values set can't be empty in {whole:?}"
        )));
    }
    Ok(values)
}

fn check_key(key: &str, whole: &str) -> Result<(), SelectorError> {
    let valid = !key.is_empty()
        && key.len() <= 316
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label key {key:?} in selector {whole:?}"
        )))
    }
}

fn parse_requirement(part: &str, whole: &str) -> Result<LabelRequirement, SelectorError> {
    let part = part.trim();
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key, whole)?;
        return Ok(LabelRequirement {
            key: key.into(),
            op: LabelOp::NotExists,
        });
    }
    for (token, make) in [
        (" notin ", true),
        (" in ", false),
        (" notin(", true),
        (" in(", false),
    ] {
        if let Some(idx) = part.find(token) {
            let key = part[..idx].trim();
            check_key(key, whole)?;
            // Keep the "(" in the value set for the `in(` forms.
            let rest = &part[idx + token.trim_end_matches('(').len()..];
            let values = parse_set(rest, whole)?;
            let op = if make {
                LabelOp::NotIn(values)
            } else {
                LabelOp::In(values)
            };
            return Ok(LabelRequirement {
                key: key.into(),
                op,
            });
        }
    }
    type MakeOp = fn(&str) -> Result<LabelOp, SelectorError>;
    let ops: [(&str, MakeOp); 5] = [
        ("!=", |v| Ok(LabelOp::NotEquals(v.into()))),
        ("==", |v| Ok(LabelOp::Equals(v.into()))),
        ("=", |v| Ok(LabelOp::Equals(v.into()))),
        (">", |v| {
            v.parse()
                .map(LabelOp::GreaterThan)
                .map_err(|_| SelectorError(format!("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer, got {v:?}")))
        }),
        ("<", |v| {
            v.parse()
                .map(LabelOp::LessThan)
                .map_err(|_| SelectorError(format!("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer, got {v:?}")))
        }),
    ];
    for (token, make) in ops {
        if let Some(idx) = part.find(token) {
            let key = part[..idx].trim();
            check_key(key, whole)?;
            let value = part[idx + token.len()..].trim();
            return Ok(LabelRequirement {
                key: key.into(),
                op: make(value)?,
            });
        }
    }
    check_key(part, whole)?;
    Ok(LabelRequirement {
        key: part.into(),
        op: LabelOp::Exists,
    })
}

impl LabelSelector {
    /// Parses a `labelSelector` query value; empty selects everything.
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        if s.trim().is_empty() {
            return Ok(LabelSelector::default());
        }
        let requirements = split_top_level(s)
            .into_iter()
            .map(|p| parse_requirement(p, s))
            .collect::<Result<_, _>>()?;
        Ok(LabelSelector { requirements })
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` (the object's `metadata.labels` pairs) satisfy every requirement.
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |k: &str| {
            labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| v.as_str())
        };
        self.requirements.iter().all(|r| {
            let v = get(&r.key);
            match &r.op {
                LabelOp::Exists => v.is_some(),
                LabelOp::NotExists => v.is_none(),
                LabelOp::Equals(want) => v == Some(want.as_str()),
                LabelOp::NotEquals(want) => v != Some(want.as_str()),
                LabelOp::In(set) => v.is_some_and(|v| set.iter().any(|s| s == v)),
                LabelOp::NotIn(set) => v.is_none_or(|v| !set.iter().any(|s| s == v)),
                LabelOp::GreaterThan(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|x| x > *n),
                LabelOp::LessThan(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|x| x < *n),
            }
        })
    }
}

/// `metadata.labels` of an object as pairs (string values only).
pub fn labels_of(obj: &Value) -> Vec<(String, String)> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// One `matchExpressions` entry of a `metav1.LabelSelector` object; a missing field reads as
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchExpression<'a> {
    /// The label key.
    pub key: &'a str,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: &'a str,
    /// The values, in the object's order.
    pub values: Vec<&'a str>,
}

/// The `matchExpressions` of a `metav1.LabelSelector` object.
pub fn match_expressions(selector: &Value) -> impl Iterator<Item = MatchExpression<'_>> {
    fn field<'v>(e: &'v Value, name: &str) -> &'v str {
        e.get(name).and_then(Value::as_str).unwrap_or("")
    }
    selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(move |e| MatchExpression {
            key: field(e, "key"),
            operator: field(e, "operator"),
            values: e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect(),
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    value: String,
    equal: bool,
}

/// A parsed `fieldSelector`; all requirements must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// Fields beyond `metadata.name`/`metadata.namespace` that kube-apiserver lets select, per kind.
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "ReplicaSet" => &["status.replicas"],
        "Job" => &["status.successful"],
        _ => &[],
    }
}

impl FieldSelector {
    /// Parses a `fieldSelector` for objects of `kind`; unknown fields are refused as kube does.
    pub fn parse(s: &str, kind: &str) -> Result<FieldSelector, SelectorError> {
        if s.trim().is_empty() {
            return Ok(FieldSelector::default());
        }
        let mut requirements = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !kind_fields(kind).contains(&field)
            {
                // Kinds with field label conversions of their own refuse the rest in their
                // words; the others go through the default metadata-only conversion.
                return Err(SelectorError(if kind_fields(kind).is_empty() {
                    format!(
                        "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                    )
                } else {
                    format!("field label not supported: {field}")
                }));
            }
            requirements.push(FieldRequirement {
                field: field.into(),
                value: value.trim().into(),
                equal,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The name an exact `metadata.name=` requirement pins, to look one object up directly.
    pub fn exact_name(&self) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.equal && r.field == "metadata.name")
            .map(|r| r.value.as_str())
    }

    /// Whether the requirements only concern `metadata.name`/`metadata.namespace`.
    pub fn needs_object(&self) -> bool {
        self.requirements
            .iter()
            .any(|r| r.field != "metadata.name" && r.field != "metadata.namespace")
    }

    /// Whether an object with this namespace and name (and body, for other fields) matches.
    pub fn matches(&self, namespace: &str, name: &str, obj: Option<&Value>) -> bool {
        self.requirements.iter().all(|r| {
            let actual: String = match r.field.as_str() {
                "metadata.name" => name.into(),
                "metadata.namespace" => namespace.into(),
                path => obj.map(|o| field_value(o, path)).unwrap_or_default(),
            };
            (actual == r.value) == r.equal
        })
    }
}

/// A field's value as field selectors compare it: scalars as text, missing as "".
fn field_value(obj: &Value, dotted: &str) -> String {
    let mut cur = obj;
    for seg in dotted.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(o) if dotted == "source" => o
            .get("component")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_equality_forms() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(LabelSelector::parse("app=web").unwrap().matches(&l));
        assert!(LabelSelector::parse("app==web").unwrap().matches(&l));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(&l));
        assert!(
            LabelSelector::parse("app=web,tier=front")
                .unwrap()
                .matches(&l)
        );
        assert!(
            !LabelSelector::parse("app=web,tier=back")
                .unwrap()
                .matches(&l)
        );
        // != selects objects without the label too, as kube does
        assert!(LabelSelector::parse("env!=prod").unwrap().matches(&l));
    }

    #[test]
    fn label_set_and_existence_forms() {
        let l = labels(&[("app", "web")]);
        assert!(
            LabelSelector::parse("app in (web, api)")
                .unwrap()
                .matches(&l)
        );
        assert!(
            !LabelSelector::parse("app notin (web,api)")
                .unwrap()
                .matches(&l)
        );
        assert!(
            LabelSelector::parse("env notin (prod)")
                .unwrap()
                .matches(&l)
        );
        assert!(!LabelSelector::parse("env in (prod)").unwrap().matches(&l));
        assert!(LabelSelector::parse("app").unwrap().matches(&l));
        assert!(!LabelSelector::parse("!app").unwrap().matches(&l));
        assert!(
            LabelSelector::parse("!env,app in (web)")
                .unwrap()
                .matches(&l)
        );
        assert!(LabelSelector::parse("").unwrap().matches(&l));
    }

    #[test]
    fn label_selector_errors() {
        assert!(LabelSelector::parse("app in ()").is_err());
        assert!(LabelSelector::parse("a b=c").is_err());
        assert!(LabelSelector::parse("x>abc").is_err());
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=web", "Deployment").unwrap();
        assert_eq!(s.exact_name(), Some("web"));
        assert!(s.matches("default", "web", None));
        assert!(!s.matches("default", "api", None));
        let s = FieldSelector::parse("metadata.namespace!=kube-system", "ConfigMap").unwrap();
        assert!(s.matches("default", "x", None));
        assert!(!s.matches("kube-system", "x", None));
        assert!(FieldSelector::parse("spec.replicas=1", "Deployment").is_err());
        let pod = serde_json::json!({"status": {"phase": "Running"}});
        let s = FieldSelector::parse("status.phase==Running", "Pod").unwrap();
        assert!(s.needs_object());
        assert!(s.matches("default", "p", Some(&pod)));
    }
}
