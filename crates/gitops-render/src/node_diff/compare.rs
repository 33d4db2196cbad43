//! Whether two texts of a node have different values, parsing only what differs.

use serde_json::Value;

use super::entries::{Entries, entry, mapping_entries};
use super::line_index::{LineIndex, Lines, is_item};
use super::literal::Literal;
use crate::documents::parse_yaml_document;

/// Whether the node `a` (lines of the old text) has a different value from `b` (of the new
/// text), given their block mapping `entries` when they are such mappings; `None` when not
/// proven. A block mapping is compared entry by entry, by its keys first: only the entries
/// whose text differs are compared, each as a node of its own ([`node_differs`]).
pub(super) fn differ(
    entries: (Option<Entries<'_>>, Option<Entries<'_>>),
    a: (&Lines<'_>, std::ops::Range<usize>),
    b: (&Lines<'_>, std::ops::Range<usize>),
) -> Option<bool> {
    match entries {
        (Some(old), Some(new)) => entries_differ(&old, &new),
        _ => node_differs(a.0.slice(a.1), b.0.slice(b.1)),
    }
}

/// Whether two block mappings' entries differ: other keys, or an entry whose text differs
/// and whose value differs ([`node_differs`]).
pub(super) fn entries_differ(old: &Entries<'_>, new: &Entries<'_>) -> Option<bool> {
    entries_differ_at(old, new, 0)
}

fn entries_differ_at(old: &Entries<'_>, new: &Entries<'_>, depth: usize) -> Option<bool> {
    if old.len() != new.len() || old.keys().any(|k| !new.contains_key(k)) {
        return Some(true);
    }
    for (key, old_text) in old {
        let new_text = &new[key];
        if old_text != new_text && node_differs_at(old_text, new_text, depth)? {
            return Some(true);
        }
    }
    Some(false)
}

/// Most levels [`node_differs`] descends before parsing what is left.
const MAX_DEPTH: usize = 64;

/// Whether two texts of a node (its header line and the lines under it, indented as in the
/// file) have different values; `None` when not proven. Only what differs is parsed: a block
/// mapping compares by its keys and then entry by entry, a block sequence with as many items
/// on both sides item by item, a literal block scalar (`key: |`) by its lines
/// ([`literal_block`]); anything else is parsed whole ([`parsed_entry`]).
pub(super) fn node_differs(a: &str, b: &str) -> Option<bool> {
    node_differs_at(a, b, 0)
}

fn node_differs_at(a: &str, b: &str, depth: usize) -> Option<bool> {
    if a == b {
        return Some(false);
    }
    if let (Some(x), Some(y)) = (Literal::of(a), Literal::of(b)) {
        return Some(x.differs(&y));
    }
    if depth < MAX_DEPTH
        && let Some(ia) = LineIndex::new(a.as_bytes())
        // Two versions of a node: most of their lines are the same.
        && let Some(ib) = LineIndex::derived((a.as_bytes(), &ia), b.as_bytes())
        && let (Some(la), Some(lb)) = (Lines::of_str(a, &ia), Lines::of_str(b, &ib))
        && let (Some(at), Some(bt)) = (la.indent(0), lb.indent(0))
    {
        let (ra, rb) = (0..la.count(), 0..lb.count());
        if let (Some(x), Some(y)) = (
            mapping_entries(&la, ra.clone(), at),
            mapping_entries(&lb, rb.clone(), bt),
        ) {
            return entries_differ_at(&x, &y, depth + 1);
        }
        if let (Some(x), Some(y)) = (sequence_items(&la, at), sequence_items(&lb, bt))
            && x.len() == y.len()
            && la.line(0) == lb.line(0)
        {
            for (x_text, y_text) in x.iter().zip(&y) {
                if node_differs_at(x_text, y_text, depth + 1)? {
                    return Some(true);
                }
            }
            return Some(false);
        }
    }
    parsed_entry(a, b)
}

/// The items of the block sequence that a node's text holds under its header `key:` (no
/// value on its line) indented `indent`: each item's text (`- ` and the lines under it);
/// `None` when the node is no such sequence (a content line at the items' column that is no
/// item, or none below the header).
fn sequence_items<'a>(lines: &Lines<'a>, indent: usize) -> Option<Vec<&'a str>> {
    let (_, value) = entry(&lines.line(0)[indent..])?;
    if !(value.is_empty() || value.starts_with('#')) {
        return None;
    }
    let column = (1..lines.count()).find_map(|l| lines.indent(l))?;
    if column < indent {
        return None;
    }
    let mut starts = Vec::new();
    for line in 1..lines.count() {
        match lines.indent(line) {
            Some(at) if at == column => {
                if !is_item(&lines.line(line)[at..]) {
                    return None;
                }
                starts.push(line);
            }
            Some(at) if at < column => return None,
            _ => {}
        }
    }
    let mut items = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(lines.count());
        items.push(lines.slice(start..end));
    }
    // Blank or comment lines between the header and the first item.
    (starts.first() == Some(&(1..lines.count()).find(|l| lines.indent(*l).is_some())?))
        .then_some(items)
}

/// Whether two texts of a node parse to different values; `None` when one does not parse
/// alone, or when they are equal but may define an anchor that an alias elsewhere names.
fn parsed_entry(a: &str, b: &str) -> Option<bool> {
    if parsed(a)? != parsed(b)? {
        return Some(true);
    }
    (!may_anchor(a) && !may_anchor(b)).then_some(false)
}

/// The value of a node's text parsed alone; `None` when it does not parse.
pub(super) fn parsed(text: &str) -> Option<Value> {
    parse_yaml_document(text)
        .ok()
        .map(|v| v.unwrap_or(Value::Null))
}

/// Whether a node's text may define an anchor (`&name` where a node starts).
pub(super) fn may_anchor(text: &str) -> bool {
    text.contains(" &") || text.contains("\n&") || text.starts_with('&')
}
