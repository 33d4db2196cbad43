//! The identities of a plain YAML file's resources, proven from the text without parsing it.
//!
//! A history walk meets files it has not seen before: one removed (walking back, it appears
//! in the parent) or one whose newer version came from a commit the walk did not read whole.
//! Rendering them only to learn which resources they hold parses every document. Most
//! manifests are written in a small part of YAML: block mappings and sequences, one
//! `key: value` or `- item` per line, plain or simply quoted scalars. [`scan`] recognizes
//! exactly that part and reads `apiVersion`, `kind`, `metadata.name` and
//! `metadata.namespace` from it, with the document line ranges the parser gives.
//!
//! It answers only when it can prove that the parser would read the file without error and
//! the same identities: every line fits the part above with consistent indentation, no key
//! repeats in a mapping, no value needs the parser to resolve (identity values are plain text
//! starting with a letter, or quoted), and no document's kind ends in `List` (a list document). Anything else (comments,
//! flow collections, anchors, tags, block scalars, multi-line scalars, tabs, CRLF, a byte-order
//! mark, `...`, directives) gives `None`: the caller parses the file as before.

use super::documents::split_documents;
use super::scalar_diff::{quick_value, value_ok};

/// One document's identity fields and its content lines (from 1, as the parser counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedDocument {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub line: usize,
    pub end_line: usize,
}

/// The documents of `bytes` with their identity fields, when the text is proven to be in the
/// recognized part of YAML (module docs); `None` otherwise.
pub fn scan(bytes: &[u8]) -> Option<Vec<ScannedDocument>> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.contains(['\t', '\r', '#', '\u{feff}']) {
        return None;
    }
    let mut documents = Vec::new();
    for segment in split_documents(text) {
        let Some((line, end_line)) = segment.content else {
            continue;
        };
        let body = &text[segment.bytes.clone()];
        let fields = scan_document(body)?;
        documents.push(ScannedDocument {
            api_version: fields.api_version?,
            kind: fields.kind.filter(|k| !k.ends_with("List"))?,
            name: fields.name?,
            namespace: fields.namespace,
            line,
            end_line,
        });
    }
    Some(documents)
}

#[derive(Default)]
struct Fields {
    api_version: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
}

/// What a block collection is to the scan.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    Metadata,
    Other,
}

/// An open block collection: a mapping (with its keys so far) or a sequence, at `indent`.
struct Open<'t> {
    indent: usize,
    sequence: bool,
    role: Role,
    keys: Vec<&'t str>,
}

/// The identity fields of one document, `None` unless every line is proven (module docs).
fn scan_document(body: &str) -> Option<Fields> {
    let mut scan = DocumentScan {
        fields: Fields::default(),
        stack: Vec::new(),
        pending: None,
        started: false,
    };
    for (i, line) in body.split('\n').enumerate() {
        let Some((indent, item, content)) = content_line(i, line)? else {
            continue;
        };
        scan.open_collection(indent, item)?;
        scan.close_collections(indent, item)?;
        scan.read_entry(indent, item, content)?;
    }
    // An identity key without a text value (`kind:` over a block, `metadata:` not a mapping)
    // leaves its field unset: [`scan`] refuses the document.
    Some(scan.fields)
}

/// Line `i` of a document as (indentation, whether it is a `- ` item, its content after
/// the indentation and `- `); `Some(None)` for a line with nothing to read (the start marker,
/// a blank line); `None` for a line outside the recognized part.
fn content_line(i: usize, line: &str) -> Option<Option<(usize, bool, &str)>> {
    if i == 0 && line.starts_with("---") {
        // The start marker; content after it on the same line is not recognized.
        if line.trim_end() != "---" {
            return None;
        }
        return Some(None);
    }
    if line.trim().is_empty() {
        return Some(None);
    }
    if line.ends_with(' ') {
        return None;
    }
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let (item, content) = match rest.strip_prefix("- ") {
        Some(content) => (true, content),
        None if rest == "-" => return None,
        None => (false, rest),
    };
    if content.starts_with('-') && (content == "-" || content.starts_with("- ")) {
        return None;
    }
    Some(Some((indent, item, content)))
}

/// What [`scan_document`] keeps from one line to the next.
struct DocumentScan<'t> {
    fields: Fields,
    stack: Vec<Open<'t>>,
    /// A `key:` with nothing after it: (the indent of its mapping, the role its value takes).
    pending: Option<(usize, Role)>,
    started: bool,
}

impl<'t> DocumentScan<'t> {
    /// Opens the collection a content line at `indent` starts: the document's root mapping
    /// at its first line, or the value of a pending `key:`.
    fn open_collection(&mut self, indent: usize, item: bool) -> Option<()> {
        if !self.started {
            // The document is one block mapping from column 0.
            if indent != 0 || item {
                return None;
            }
            self.started = true;
            self.stack.push(Open {
                indent: 0,
                sequence: false,
                role: Role::Root,
                keys: Vec::new(),
            });
        } else if let Some((at, role)) = self.pending.take() {
            // The value of the `key:` above: a sequence (at the key's column or deeper) or a
            // mapping (deeper); otherwise that value is null and this line goes on as usual.
            if item && indent >= at {
                self.stack.push(Open {
                    indent,
                    sequence: true,
                    role: Role::Other,
                    keys: Vec::new(),
                });
            } else if !item && indent > at {
                self.stack.push(Open {
                    indent,
                    sequence: false,
                    role,
                    keys: Vec::new(),
                });
            }
        }
        Some(())
    }

    /// Closes the collections a line at `indent` ends, up to the one it belongs to.
    fn close_collections(&mut self, indent: usize, item: bool) -> Option<()> {
        loop {
            let top = self.stack.last()?;
            if top.indent > indent || (top.indent == indent && top.sequence != item) {
                // A compact sequence ends at a key of its own column; deeper ones end here.
                if top.indent == indent && !top.sequence {
                    return None;
                }
                self.stack.pop();
                continue;
            }
            if top.indent < indent {
                // Deeper than any open collection expects: a continuation line.
                return None;
            }
            return Some(());
        }
    }

    /// Reads the line's `key: value` or `key:` into its mapping (an item's scalar has
    /// nothing to read), keeping an identity field's value.
    fn read_entry(&mut self, indent: usize, item: bool, content: &'t str) -> Option<()> {
        let (map_indent, role) = if item {
            // `- key: value` opens a mapping at the key's column; `- value` is a scalar.
            if entry(content).is_none() {
                if !plain_ok(content) {
                    return None;
                }
                return Some(());
            }
            let column = indent + 2;
            self.stack.push(Open {
                indent: column,
                sequence: false,
                role: Role::Other,
                keys: Vec::new(),
            });
            (column, Role::Other)
        } else {
            let top = self.stack.last()?;
            (indent, top.role)
        };
        let (key, value) = entry(content)?;
        let map = self.stack.last_mut()?;
        debug_assert_eq!(map.indent, map_indent);
        if map.keys.contains(&key) {
            return None;
        }
        map.keys.push(key);
        // A `List`'s items (or any top-level `items`) are not scanned.
        if role == Role::Root && key == "items" {
            return None;
        }
        match value {
            None => {
                let child = match (role, key) {
                    (Role::Root, "metadata") => Role::Metadata,
                    _ => Role::Other,
                };
                self.pending = Some((map_indent, child));
            }
            Some(value) => {
                let field = match (role, key) {
                    (Role::Root, "apiVersion") => Some(&mut self.fields.api_version),
                    (Role::Root, "kind") => Some(&mut self.fields.kind),
                    (Role::Metadata, "name") => Some(&mut self.fields.name),
                    (Role::Metadata, "namespace") => Some(&mut self.fields.namespace),
                    _ => None,
                };
                if let Some(field) = field {
                    *field = Some(text_value(value)?);
                }
            }
        }
        Some(())
    }
}

/// `key: value` (`Some(value)`) or `key:` (`None`) with a plain key of letters, digits and
/// `_ . - /` starting with a letter that no schema reads as anything but text.
fn entry(content: &str) -> Option<(&str, Option<&str>)> {
    let (key, value) = match content.split_once(": ") {
        Some((key, value)) => (key, Some(value)),
        None => (content.strip_suffix(':')?, None),
    };
    let key_ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
        && quick_value(key).is_some();
    if !key_ok {
        return None;
    }
    match value {
        Some(value) if !plain_ok(value) => None,
        value => Some((key, value)),
    }
}

/// A one-line scalar that reads without error: what [`value_ok`] accepts, also after leading
/// dashes (`--port=8080`, `-1`).
fn plain_ok(value: &str) -> bool {
    let rest = value.trim_start_matches('-');
    !rest.is_empty()
        && value_ok(rest)
        && (rest.len() == value.len() || !rest.starts_with(['"', '\'']))
}

/// A scalar the parser reads as this non-empty text, for sure.
fn text_value(value: &str) -> Option<String> {
    match quick_value(value)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Format, parse};

    /// The parser's reading of the same text: each document's identity fields and lines.
    fn parsed(text: &str) -> Vec<ScannedDocument> {
        let text_of = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
        parse(Format::Yaml, text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|d| ScannedDocument {
                api_version: text_of(d.value.get("apiVersion")).unwrap(),
                kind: text_of(d.value.get("kind")).unwrap(),
                name: text_of(d.value.pointer("/metadata/name")).unwrap(),
                namespace: text_of(d.value.pointer("/metadata/namespace")),
                line: d.line,
                end_line: d.end_line,
            })
            .collect()
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  labels:\n    app.kubernetes.io/name: web\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      name: not-this-one\n    spec:\n      containers:\n      - name: web\n        image: registry.example.com/web:1.0.6\n        args:\n        - --port\n        - \"8080\"\n        env:\n          - name: LOG_LEVEL\n            value: \"info\"\n          - name: WORKERS\n            value: \"10\"\n        resources:\n          requests:\n            cpu: 100m\n      volumes:\n        - name: data\n          emptyDir:\n";

    #[test]
    fn reads_the_identities_the_parser_reads() {
        let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: 'web'\nspec:\n  type: ClusterIP\n  ports:\n  - port: 80\n    targetPort: 8080\n";
        let two = format!("---\n{DEPLOYMENT}---\n\n{service}\n");
        for text in [
            DEPLOYMENT,
            service,
            two.as_str(),
            "\n\nkind: ConfigMap\napiVersion: v1\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n",
        ] {
            let scanned = scan(text.as_bytes()).unwrap_or_else(|| panic!("not scanned: {text}"));
            assert_eq!(scanned, parsed(text), "{text}");
        }
        assert_eq!(scan(DEPLOYMENT.as_bytes()).unwrap()[0].name, "web");
        assert_eq!(scan(two.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn refuses_what_it_cannot_prove() {
        let cases = [
            // Comments, flow, anchors, aliases, tags, block scalars.
            ("  replicas: 3\n", "  replicas: 3 # three\n"),
            ("  replicas: 3\n", "  replicas: [3]\n"),
            ("  replicas: 3\n", "  replicas: &r 3\n"),
            ("  replicas: 3\n", "  replicas: !!int 3\n"),
            ("  replicas: 3\n", "  replicas: |\n    3\n"),
            // A multi-line scalar, a line deeper than its mapping, a line between levels.
            ("  replicas: 3\n", "  replicas: 3\n    4\n"),
            ("  name: web\n", "  name: web\n   x: 1\n"),
            // A repeated key (a parse error), identity values the parser must resolve.
            ("  replicas: 3\n", "  replicas: 3\n  replicas: 4\n"),
            ("  name: web\n", "  name: 1web\n"),
            ("  name: web\n", "  name: true\n"),
            ("  name: web\n", "  name: \"\"\n"),
            ("  name: web\n", "  name: \"a\\\"b\"\n"),
            ("  name: web\n", "  name:\n"),
            ("  name: web\n", "  name:\n    x: 1\n"),
            // Tabs, carriage returns, trailing blanks, keys that are not plain text.
            ("  replicas: 3\n", "  replicas:\t3\n"),
            ("  replicas: 3\n", "  replicas: 3\r\n"),
            ("  replicas: 3\n", "  replicas: 3 \n"),
            ("  replicas: 3\n", "  \"replicas\": 3\n"),
            ("  replicas: 3\n", "  yes: 3\n"),
            ("  replicas: 3\n", "  ? replicas\n  : 3\n"),
            // No kind, a List, items, a sequence at the top, a document end marker.
            ("kind: Deployment\n", ""),
            ("kind: Deployment\n", "kind: List\n"),
            ("spec:\n", "items:\n- a\nspec:\n"),
            ("metadata:\n  name: web\n", "metadata:\n- name: web\n"),
            ("spec:\n", "...\nspec:\n"),
        ];
        for (from, to) in cases {
            let text = DEPLOYMENT.replacen(from, to, 1);
            assert_ne!(text, DEPLOYMENT, "{to:?}");
            assert_eq!(scan(text.as_bytes()), None, "{to:?}");
        }
        assert_eq!(scan("- a\n".as_bytes()), None);
        assert_eq!(scan("  kind: x\n".as_bytes()), None);
        assert_eq!(scan(b"\xff"), None);
    }

    /// The identities [`scan_identities`](crate::scan_identities) gives are those the
    /// render gives: the default namespace for namespaced kinds, none for cluster-scoped ones,
    /// what is written for unknown kinds; a duplicate is left to the render (an error there).
    #[test]
    fn identities_are_the_renders() {
        use crate::{RenderOptions, render_bytes, scan_identities};
        let opts = RenderOptions::new("", "team-a");
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n  namespace: ignored\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: there\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n";
        let (manifests, errors) = render_bytes("a.yaml", text.as_bytes(), &opts);
        assert!(errors.is_empty(), "{errors:?}");
        let rendered: Vec<_> = manifests
            .iter()
            .map(|m| {
                (
                    m.id.clone(),
                    m.api_version.clone(),
                    m.source.line,
                    m.source.end_line,
                )
            })
            .collect();
        assert_eq!(scan_identities(text.as_bytes(), &opts), Some(rendered));
        assert_eq!(
            scan_identities(text.as_bytes(), &opts).unwrap()[0]
                .0
                .namespace
                .as_deref(),
            Some("team-a")
        );
        let twice = format!("{text}---\n{}", &text[..text.find("---").unwrap()]);
        assert_eq!(render_bytes("a.yaml", twice.as_bytes(), &opts).1.len(), 1);
        assert_eq!(scan_identities(twice.as_bytes(), &opts), None);
    }

    /// Every prefix of the document's lines, and every line dropped in turn: whatever the scan
    /// accepts, the parser reads without error and with the same identities.
    #[test]
    fn whatever_it_accepts_the_parser_reads_alike() {
        let lines: Vec<&str> = DEPLOYMENT.split_inclusive('\n').collect();
        let mut texts: Vec<String> = (1..=lines.len()).map(|n| lines[..n].concat()).collect();
        for skip in 0..lines.len() {
            let mut kept = lines.clone();
            kept.remove(skip);
            texts.push(kept.concat());
            // And the line indented one step more or less.
            for shift in ["  ", ""] {
                let mut moved: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
                moved[skip] = match shift {
                    "" => moved[skip]
                        .strip_prefix("  ")
                        .unwrap_or(&moved[skip])
                        .to_owned(),
                    s => format!("{s}{}", moved[skip]),
                };
                texts.push(moved.concat());
            }
        }
        let mut accepted = 0;
        for text in &texts {
            if let Some(scanned) = scan(text.as_bytes()) {
                accepted += 1;
                let docs = parse(Format::Yaml, text.as_bytes())
                    .unwrap_or_else(|e| panic!("scanned, but the parser fails: {e:?}\n{text}"));
                assert_eq!(docs.len(), scanned.len(), "{text}");
                assert_eq!(scanned, parsed(text), "{text}");
            }
        }
        // The test is not vacuous: most variants are plain manifests.
        assert!(accepted > texts.len() / 3, "{accepted} of {}", texts.len());
    }
}
