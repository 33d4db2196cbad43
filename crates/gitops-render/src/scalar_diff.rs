//! Proving, without parsing, that two versions of a YAML file differ only in scalar values.
//!
//! A history walk compares thousands of file versions that differ in one line (`image:`,
//! `replicas:`). [`scalar_changes`] answers, from the text alone, "these lines changed, each one
//! `key: value` with the same key and indentation and a value that resolves to something
//! else; everything else is byte for byte the same". Then the documents keep their identities
//! and line ranges, and exactly the documents holding a changed line render differently:
//!
//! - a changed line is content on both sides (`key: value`, never blank or a comment), so
//!   document boundaries and content ranges stay where they were;
//! - when the line is the mapping entry it looks like, its value changed, so the object did;
//!   when it is really inside a block or quoted multi-line scalar, its text changed, so that
//!   scalar did; either way the document's value differs;
//! - keys that make identity (`apiVersion`, `kind`, `name`, `namespace`, `generateName`) or
//!   expand `kind: List` (`items`) are never accepted, nor anything the line scanner is not
//!   sure of: flow collections, anchors, aliases, tags, comments, quotes with escapes, tabs,
//!   carriage returns, trailing blanks, block scalar headers. Two values that may resolve to
//!   the same thing (`3` and `03`, `1.0` and `1`, `"a"` and `a`) are resolved by the real
//!   parser; equal ones are not a proof.
//!
//! `None` means "not proven", never "unchanged": the caller parses both versions instead.

use serde_json::Value;

use super::documents::parse_yaml_document;

/// Keys whose change may move a resource's identity, its namespace default or a `List`'s items.
const IDENTITY_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "name",
    "namespace",
    "generateName",
    "items",
];

/// The lines (from 1) where `new` differs from `old` when every difference is a proven scalar
/// value change (see the module docs); `None` when that is not proven, or nothing differs.
pub fn scalar_changes(old: &[u8], new: &[u8]) -> Option<Vec<usize>> {
    // The lines before the first difference and after the last one are the same on both
    // sides: only the lines between are compared, one by one. The text around them is the
    // same bytes in both versions: it is read once (UTF-8, `items:`), for both.
    let prefix = common_prefix(old, new);
    let start = memchr::memrchr(b'\n', &old[..prefix]).map_or(0, |i| i + 1);
    let (old_rest, new_rest) = (&old[start..], &new[start..]);
    let suffix = common_suffix(old_rest, new_rest);
    // The middle ends at the end of the line where the common suffix starts; the lines after
    // it lie wholly in the suffix. (By bytes: the suffix may start inside a character, `é`
    // and `ĩ` end alike.)
    let old_end = old_rest.len() - suffix;
    let (old_middle, new_middle, tail) = match memchr::memchr(b'\n', &old_rest[old_end..]) {
        Some(i) => (
            &old_rest[..old_end + i],
            &new_rest[..new_rest.len() - suffix + i],
            &old_rest[old_end + i..],
        ),
        None => (old_rest, new_rest, &old_rest[old_rest.len()..]),
    };
    let head = &old[..start];
    // Each part starts at a line start (the tail at a line break): a line break splits no
    // character, and no line of the whole lies across two parts.
    let (old_middle, new_middle) = (
        std::str::from_utf8(old_middle).ok()?,
        std::str::from_utf8(new_middle).ok()?,
    );
    std::str::from_utf8(head).ok()?;
    std::str::from_utf8(tail).ok()?;
    let items = |part: &[u8]| {
        part.starts_with(b"items:") || memchr::memmem::find(part, b"\nitems:").is_some()
    };
    if items(head) || items(old_middle.as_bytes()) || items(new_middle.as_bytes()) || items(tail) {
        return None;
    }
    let mut old_lines = old_middle.split('\n');
    let mut new_lines = new_middle.split('\n');
    let mut changed = Vec::new();
    let mut number = memchr::memchr_iter(b'\n', head).count();
    loop {
        number += 1;
        match (old_lines.next(), new_lines.next()) {
            (None, None) => break,
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                if !scalar_line_change(a, b) {
                    return None;
                }
                changed.push(number);
            }
            // A different number of lines.
            _ => return None,
        }
    }
    (!changed.is_empty()).then_some(changed)
}

/// The length of the common prefix of two byte strings (by chunks first: equal chunks compare
/// as fast as memcmp).
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let mut at = 0;
    while at + CHUNK <= a.len().min(b.len()) && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    at + a[at..]
        .iter()
        .zip(&b[at..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of the common suffix of two byte strings.
pub(crate) fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 4096;
    let mut at = 0;
    while at + CHUNK <= a.len().min(b.len())
        && a[a.len() - at - CHUNK..a.len() - at] == b[b.len() - at - CHUNK..b.len() - at]
    {
        at += CHUNK;
    }
    at + a[..a.len() - at]
        .iter()
        .rev()
        .zip(b[..b.len() - at].iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// A `kind: List`'s `items` (or any top-level `items`) ties several resources to one document.
#[cfg(test)]
fn top_level_items(text: &str) -> bool {
    text.starts_with("items:") || text.contains("\nitems:")
}

/// Whether two differing lines are the same `key: value` entry with values proven different.
fn scalar_line_change(old: &str, new: &str) -> bool {
    let (Some((old_head, old_value)), Some((new_head, new_value))) =
        (entry_line(old), entry_line(new))
    else {
        return false;
    };
    if old_head != new_head {
        return false;
    }
    match (quick_value(old_value), quick_value(new_value)) {
        (Some(a), Some(b)) => a != b,
        // The parser decides; only values it resolves differently count.
        _ => match (parsed_value(old_value), parsed_value(new_value)) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        },
    }
}

/// `(indent, optional "- ", key, ": ")` and the value of a plain block mapping entry line.
fn entry_line(line: &str) -> Option<(&str, &str)> {
    if line.contains(['\t', '\r', '\u{feff}']) || line.ends_with(' ') {
        return None;
    }
    let rest = line.trim_start_matches(' ');
    let rest = rest.strip_prefix("- ").unwrap_or(rest);
    let (key, value) = rest.split_once(": ")?;
    let key_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'));
    if !key_ok || IDENTITY_KEYS.contains(&key) || !value_ok(value) {
        return None;
    }
    let head_len = line.len() - value.len();
    Some((&line[..head_len], value))
}

/// A single-line scalar the scanner understands: quoted without escapes or inner quotes, or
/// plain without indicators, comments or a nested `: `.
pub(crate) fn value_ok(value: &str) -> bool {
    if value.is_empty() || value.starts_with(' ') {
        return false;
    }
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return !inner.contains(['"', '\\']);
    }
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return !inner.contains('\'');
    }
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_'));
    first_ok
        && !value.ends_with(':')
        && !value.contains(": ")
        && !value.contains([
            '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', '\\', '{', '}', '[', ']', ',',
        ])
}

/// The value of scalars whose resolution is certain without the parser: quoted strings,
/// canonical decimal integers, and plain text starting with a letter that no schema reads as
/// null or a boolean.
pub(crate) fn quick_value(value: &str) -> Option<Value> {
    if value.len() >= 2 && (value.starts_with('"') || value.starts_with('\'')) {
        return Some(Value::String(value[1..value.len() - 1].to_owned()));
    }
    let canonical_int = value == "0"
        || (value.as_bytes()[0] != b'0'
            && value.len() < 16
            && value.bytes().all(|b| b.is_ascii_digit()));
    if canonical_int {
        return value.parse::<i64>().ok().map(Value::from);
    }
    let letter = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    let lower = value.to_ascii_lowercase();
    let special = matches!(
        lower.as_str(),
        "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "nan"
            | "inf"
            | "infinity"
    );
    (letter && !special).then(|| Value::String(value.to_owned()))
}

/// The value as the full parser reads it, as the entry `v: <value>`.
fn parsed_value(value: &str) -> Option<Value> {
    // A release bumps the same version (`0.11.0`, which only the parser resolves) in every
    // file: the last values parsed are kept, per thread.
    thread_local! {
        static PARSED: std::cell::RefCell<std::collections::HashMap<String, Option<Value>>> =
            std::cell::RefCell::default();
    }
    if let Some(known) = PARSED.with_borrow(|parsed| parsed.get(value).cloned()) {
        return known;
    }
    let parsed = parse_value(value);
    PARSED.with_borrow_mut(|known| {
        if known.len() >= PARSED_VALUES_KEPT {
            known.clear();
        }
        known.insert(value.to_owned(), parsed.clone());
    });
    parsed
}

/// Values [`parsed_value`] keeps.
const PARSED_VALUES_KEPT: usize = 1024;

/// A scalar's value as the parser reads it: the plain way [`parsed_value`] keeps.
fn parse_value(value: &str) -> Option<Value> {
    let doc = parse_yaml_document(&format!("v: {value}\n")).ok()??;
    doc.get("v").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Format, parse};

    #[test]
    fn kept_values_equal_parsed_ones() {
        for value in [
            "0.11.0", "0.11.0", "1e3", "0x1F", "~", "\"a\"", "a: b", "[1, 2]", "0.11.0",
        ] {
            assert_eq!(parsed_value(value), parse_value(value), "{value}");
        }
        assert_eq!(parsed_value("0.11.0"), Some(Value::from("0.11.0")));
    }

    #[test]
    fn common_prefix_and_suffix_equal_the_plain_count() {
        let plain_prefix = |a: &[u8], b: &[u8]| a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let plain_suffix = |a: &[u8], b: &[u8]| {
            a.iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count()
        };
        let base: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for cut in [0, 1, 4095, 4096, 4097, 8191, 8192, 9999] {
            let mut other = base.clone();
            other[cut] ^= 1;
            for (a, b) in [
                (&base[..], &other[..]),
                (&base[..], &base[..cut]),
                (&base[cut..], &base[..]),
                (&other[..], &base[..]),
            ] {
                assert_eq!(common_prefix(a, b), plain_prefix(a, b), "{cut}");
                assert_eq!(common_suffix(a, b), plain_suffix(a, b), "{cut}");
            }
        }
    }

    const BASE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/web:1.0.6\n          env:\n            - name: WORKERS\n              value: \"10\"\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: ClusterIP\n";

    /// What the full parser says: the documents' values and line ranges on each side.
    fn parsed(text: &str) -> Vec<(usize, usize, Value)> {
        parse(Format::Yaml, text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|d| (d.line, d.end_line, d.value))
            .collect()
    }

    /// The oracle for an accepted change: same line ranges, and exactly the documents holding
    /// a changed line have a different value.
    fn check_against_parser(old: &str, new: &str, lines: &[usize]) {
        let (a, b) = (parsed(old), parsed(new));
        assert_eq!(a.len(), b.len());
        for (da, db) in a.iter().zip(&b) {
            assert_eq!((da.0, da.1), (db.0, db.1));
            let touched = lines.iter().any(|l| (da.0..=da.1).contains(l));
            assert_eq!(da.2 != db.2, touched, "{da:?} {db:?}");
        }
    }

    /// The answer comparing every line (what `scalar_changes` did before it skipped the
    /// common head and tail).
    fn every_line(old: &str, new: &str) -> Option<Vec<usize>> {
        if top_level_items(old) || top_level_items(new) {
            return None;
        }
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
            (old.split('\n').collect(), new.split('\n').collect());
        if old_lines.len() != new_lines.len() {
            return None;
        }
        let mut changed = Vec::new();
        for (i, (a, b)) in old_lines.iter().zip(&new_lines).enumerate() {
            if a != b {
                if !scalar_line_change(a, b) {
                    return None;
                }
                changed.push(i + 1);
            }
        }
        (!changed.is_empty()).then_some(changed)
    }

    #[test]
    fn skipping_the_common_head_and_tail_answers_as_comparing_every_line() {
        // Edits at the first and last lines, several at once, lines added or removed, and
        // characters of several bytes that end alike (`é` and `ĩ`: the common tail starts
        // inside a character).
        let base = format!("{BASE}  note: é\n");
        let lines: Vec<&str> = base.split('\n').collect();
        let mut cases = vec![
            (base.clone(), base.replacen("note: é", "note: ĩ", 1)),
            (
                base.clone(),
                base.replacen("apiVersion: apps/v1", "apiVersion: apps/v2", 1),
            ),
            (base.clone(), format!("{base}extra: 1\n")),
            (base.clone(), base.trim_end().to_owned()),
            (
                base.clone(),
                base.replace("replicas: 3", "replicas: 4")
                    .replace("ClusterIP", "NodePort"),
            ),
            ("a: 1".to_owned(), "a: 2".to_owned()),
            ("a: 1\n".to_owned(), "a: 2\n".to_owned()),
            ("a: é".to_owned(), "a: ĩ".to_owned()),
            (String::new(), "a: 1\n".to_owned()),
            // A top-level `items:` before, in and after the lines that differ.
            (
                "items:\n- a: 1\nb: 2\n".to_owned(),
                "items:\n- a: 1\nb: 3\n".to_owned(),
            ),
            (
                "a: 1\nitems:\n- b: 2\n".to_owned(),
                "a: 2\nitems:\n- b: 2\n".to_owned(),
            ),
            ("a: 1\nitemz: 2\n".to_owned(), "a: 1\nitems: 2\n".to_owned()),
            (
                "a: 1\nb: 2\nitems: 3".to_owned(),
                "a: 1\nb: 3\nitems: 3".to_owned(),
            ),
            (
                "a: 1\n  items: 2\n".to_owned(),
                "a: 2\n  items: 2\n".to_owned(),
            ),
        ];
        // Every line changed in turn, alone and with the last one.
        for i in 0..lines.len() {
            for also_last in [false, true] {
                let mut edited = lines.clone();
                let changed = format!("{}x", lines[i]);
                edited[i] = &changed;
                let last = lines.len() - 2;
                let last_changed = format!("{}y", lines[last]);
                if also_last {
                    edited[last] = &last_changed;
                }
                cases.push((base.clone(), edited.join("\n")));
            }
        }
        for (old, new) in &cases {
            assert_eq!(
                scalar_changes(old.as_bytes(), new.as_bytes()),
                every_line(old, new),
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn accepts_value_changes_the_parser_agrees_with() {
        for (from, to) in [
            ("replicas: 3", "replicas: 6"),
            (
                "image: registry.example.com/web:1.0.6",
                "image: registry.example.com/web:1.0.7",
            ),
            ("value: \"10\"", "value: \"3\""),
            ("value: \"10\"", "value: 10"),
            ("type: ClusterIP", "type: NodePort"),
            ("replicas: 3", "replicas: 3.5"),
            ("type: ClusterIP", "type: 'Node Port'"),
            ("replicas: 3", "replicas: true"),
        ] {
            let new = BASE.replacen(from, to, 1);
            assert_ne!(new, BASE, "{from}");
            let lines = scalar_changes(BASE.as_bytes(), new.as_bytes())
                .unwrap_or_else(|| panic!("{from} -> {to} not accepted"));
            assert_eq!(lines.len(), 1);
            check_against_parser(BASE, &new, &lines);
        }
    }

    #[test]
    fn refuses_what_it_cannot_prove() {
        let cases = [
            // Equal after resolution, or maybe equal.
            ("replicas: 3", "replicas: 03"),
            ("replicas: 3", "replicas: 3.0"),
            ("value: \"10\"", "value: '10'"),
            ("type: ClusterIP", "type: \"ClusterIP\""),
            // Identity keys.
            ("name: web\n  namespace", "name: api\n  namespace"),
            ("namespace: shop", "namespace: prod"),
            ("kind: Service", "kind: Endpoints"),
            ("apiVersion: apps/v1", "apiVersion: apps/v2"),
            // Not a plain single-line entry.
            ("replicas: 3", "replicas: 3 # more"),
            ("replicas: 3", "replicas: &r 3"),
            ("replicas: 3", "replicas: *r"),
            ("replicas: 3", "replicas: !!str 3"),
            ("type: ClusterIP", "type: [ClusterIP]"),
            ("type: ClusterIP", "type: {a: b}"),
            ("type: ClusterIP", "type: |"),
            ("type: ClusterIP", "type: \"Cluster\\tIP\""),
            ("type: ClusterIP", "type: ClusterIP "),
            ("type: ClusterIP", "type:\tNodePort"),
            ("type: ClusterIP", "type: NodePort\r"),
            ("type: ClusterIP", "\"type\": NodePort"),
            ("type: ClusterIP", "type2: ClusterIP"),
            ("  type: ClusterIP", " type: ClusterIP"),
            // Lines added or removed, document markers.
            ("type: ClusterIP\n", "type: ClusterIP\n  extra: 1\n"),
            ("---\n", "...\n"),
            ("---\n", "--- \n"),
        ];
        for (from, to) in cases {
            let new = BASE.replacen(from, to, 1);
            assert_ne!(new, BASE, "{from}");
            let got = scalar_changes(BASE.as_bytes(), new.as_bytes());
            // A refusal is always safe; an acceptance must agree with the parser.
            if let Some(lines) = &got
                && parse(Format::Yaml, new.as_bytes()).is_ok()
            {
                check_against_parser(BASE, &new, lines);
            }
            assert!(got.is_none(), "{from:?} -> {to:?} accepted as {got:?}");
        }
        assert_eq!(scalar_changes(BASE.as_bytes(), BASE.as_bytes()), None);
        // A BOM before an unchanged first line changes nothing; CRLF on a changed line is
        // not proven.
        let bom = format!("\u{feff}{BASE}");
        assert!(scalar_changes(bom.as_bytes(), bom.replacen("3", "4", 1).as_bytes()).is_some());
        let crlf = BASE.replace('\n', "\r\n");
        assert_eq!(
            scalar_changes(
                crlf.as_bytes(),
                crlf.replacen("replicas: 3", "replicas: 4", 1).as_bytes()
            ),
            None
        );
    }

    /// Inside a block scalar or a quoted multi-line string a line that looks like an entry is
    /// text: a proven change there is still a change of the document (the text changed).
    #[test]
    fn lookalike_lines_in_block_and_quoted_scalars_still_change_the_document() {
        let block = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  conf: |\n    level: info\n    workers: 3\n  quoted: \"a\n    b: 1\n    c\"\n";
        for (from, to) in [
            ("level: info", "level: debug"),
            ("workers: 3", "workers: 4"),
            ("b: 1", "b: 2"),
        ] {
            let new = block.replacen(from, to, 1);
            let lines = scalar_changes(block.as_bytes(), new.as_bytes()).unwrap();
            check_against_parser(block, &new, &lines);
        }
        // Equal after resolution as an entry, different as text: refused.
        let new = block.replacen("workers: 3", "workers: 03", 1);
        assert_eq!(scalar_changes(block.as_bytes(), new.as_bytes()), None);
    }

    #[test]
    fn refuses_lists_and_documents_with_top_level_items() {
        let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: a\n    data:\n      k: x\n";
        let new = list.replacen("k: x", "k: y", 1);
        assert_eq!(scalar_changes(list.as_bytes(), new.as_bytes()), None);
    }

    #[test]
    fn a_document_end_marker_keeps_ranges() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: x\n...\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: x\n";
        let new = text.replacen("k: x", "k: y", 1);
        let lines = scalar_changes(text.as_bytes(), new.as_bytes()).unwrap();
        assert_eq!(lines, vec![6]);
        check_against_parser(text, &new, &lines);
        // `---` inside a block scalar is a document marker to YAML; the ranges come from the
        // parser's split on both sides, which the unchanged marker lines keep equal.
        let block = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: x\n  t: |\n    line\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n";
        let new = block.replacen("k: x", "k: y", 1);
        let lines = scalar_changes(block.as_bytes(), new.as_bytes()).unwrap();
        check_against_parser(block, &new, &lines);
    }
}
