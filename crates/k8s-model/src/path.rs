//! Field paths in the dotted notation status and diff print (SPEC §5):
//! `spec.replicas`, `spec.template.spec.containers[name=web].image`, `args[0]`,
//! `metadata.annotations["example.com/x"]`.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// A map key.
    Key(String),
    /// A list item chosen by its merge key fields, e.g. `name=web`.
    Item(Vec<(String, Value)>),
    /// A list item chosen by position.
    Index(usize),
}

/// A path to a field inside an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<PathSegment>);

impl FieldPath {
    /// The empty path (the object itself).
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// This path extended by one segment.
    pub fn child(&self, segment: PathSegment) -> FieldPath {
        let mut segments = self.0.clone();
        segments.push(segment);
        FieldPath(segments)
    }

    /// This path extended by a map key.
    pub fn key(&self, key: &str) -> FieldPath {
        self.child(PathSegment::Key(key.to_owned()))
    }

    /// The map keys along the path, list steps left out: the shape quantity detection needs.
    pub fn keys(&self) -> impl Iterator<Item = &str> + Clone {
        self.0.iter().filter_map(|segment| match segment {
            PathSegment::Key(key) => Some(key.as_str()),
            _ => None,
        })
    }
}

/// Map keys made only of these characters print bare; anything else is quoted so that the
/// path stays unambiguous (`data["config.yaml"]`).
fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Item key values print bare when they cannot be confused with the `,`/`=`/`]` syntax.
fn write_item_value(f: &mut fmt::Formatter<'_>, value: &Value) -> fmt::Result {
    match value {
        Value::String(text)
            if !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./:".contains(c)) =>
        {
            f.write_str(text)
        }
        other => write!(f, "{other}"),
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if is_bare_key(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                PathSegment::Key(key) => write!(f, "[{}]", Value::String(key.clone()))?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
                PathSegment::Item(fields) => {
                    f.write_str("[")?;
                    for (n, (name, value)) in fields.iter().enumerate() {
                        if n > 0 {
                            f.write_str(",")?;
                        }
                        write!(f, "{name}=")?;
                        write_item_value(f, value)?;
                    }
                    f.write_str("]")?;
                }
            }
        }
        Ok(())
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_notation_table() {
        let root = FieldPath::root();
        let web = root
            .key("spec")
            .key("template")
            .key("spec")
            .key("containers")
            .child(PathSegment::Item(vec![("name".into(), json!("web"))]))
            .key("image");
        let port = root.key("ports").child(PathSegment::Item(vec![
            ("containerPort".into(), json!(80)),
            ("protocol".into(), json!("TCP")),
        ]));
        let cases = [
            (root.key("spec").key("replicas"), "spec.replicas"),
            (root.key("data").key("LOG_LEVEL"), "data.LOG_LEVEL"),
            (web, "spec.template.spec.containers[name=web].image"),
            (
                root.key("metadata").key("annotations").key("example.com/x"),
                r#"metadata.annotations["example.com/x"]"#,
            ),
            (root.key("args").child(PathSegment::Index(0)), "args[0]"),
            (port, "ports[containerPort=80,protocol=TCP]"),
            (
                root.key("env")
                    .child(PathSegment::Item(vec![("name".into(), json!("a,b"))])),
                r#"env[name="a,b"]"#,
            ),
            (root.key("data.yaml"), r#"["data.yaml"]"#),
        ];
        for (path, text) in cases {
            assert_eq!(path.to_string(), text);
            assert_eq!(serde_json::to_value(&path).unwrap(), json!(text));
        }
    }
}
