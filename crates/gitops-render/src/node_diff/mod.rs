//! Which documents of a YAML file changed between two versions, from their text and a parse of
//! only the nodes that differ.
//!
//! A history walk meets thousands of versions of large generated files (a CRD is 10,000 lines;
//! kube-prometheus has nine, changed ~900 times in all) where a commit adds a field or
//! rewrites a description. [`super::scalar_diff`] proves the common one-line edits without
//! parsing; anything that adds or removes lines used to parse both whole versions.
//! [`changed_documents`] parses only the smallest block node enclosing each difference:
//!
//! - the texts are compared from the start; at the first difference, the enclosing node is
//!   the nearest line before it indented less than the first content line at (or after) the
//!   difference on either side, and it ends, on each side, at the first content line indented
//!   no deeper (a compact sequence `- ` at the header's indentation stays inside a `key:`
//!   header); the comparison goes on after it;
//! - both versions of a node are parsed on their own with the real parser; values that differ
//!   prove the document changed: everything before the node is the same text, so the node sits
//!   at the same place in both values. When the "node" is really a run of lines inside a block
//!   or multi-line scalar, their texts differ, and so does that scalar. Equal values prove
//!   nothing (the lines may be a block scalar's, read as a comment): not proven;
//! - once a document is proven changed, its later nodes are only located, not parsed.
//!
//! Every difference lies in such a node, below the top level and outside `metadata`'s own
//! entries: the documents' boundaries, `apiVersion`, `kind`, `metadata.name` and
//! `metadata.namespace` are then the same text in both versions, so each document keeps its
//! identity. Anything else — a difference at the top level or in `metadata`'s entries, a node
//! that does not parse alone (an alias to an anchor outside it, a multi-line flow collection
//! cut at its closing line), escapes in a possibly quoted scalar, tabs in indentation, too many
//! nodes — answers `None`: the caller parses both versions, as before.

use memchr::memchr_iter;
use serde_json::Value;

use super::documents::parse_yaml_document;
use super::scalar_diff::{common_prefix, quick_value};

/// Most differing nodes compared in one file; a file rewritten throughout is parsed whole.
const MAX_NODES: usize = 512;

/// What [`changed_documents`] proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedDocuments {
    /// For each document given, whether its value differs in the old version.
    pub modified: Vec<bool>,
    /// For each document given, its content lines (from 1) in the old version; `None` for
    /// an item added to a list document (not in the old version).
    pub old_lines: Vec<Option<(usize, usize)>>,
}

/// For each document of `new` (its content lines `docs`, from 1, as the parser numbers them),
/// whether its value differs from the same document of `old`, and where that document is in
/// `old`; `None` when that is not proven (module docs).
pub fn changed_documents(
    old: &[u8],
    new: &[u8],
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    changed_documents_indexed(
        (old, &LineIndex::new(old)?),
        (new, &LineIndex::new(new)?),
        docs,
    )
}

/// [`changed_documents`] with each version's [`LineIndex`] given (built from that text).
pub fn changed_documents_indexed(
    (old, old_index): (&[u8], &LineIndex),
    (new, new_index): (&[u8], &LineIndex),
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    let old = Lines::new(old, old_index)?;
    let new = Lines::new(new, new_index)?;
    by_nodes(&old, &new, old_index, docs).or_else(|| {
        // Both versions' documents, read once for both ways below.
        let spans = (old.document_spans()?, new.document_spans()?);
        by_documents(&old, &new, &spans, docs).or_else(|| by_items(&old, &new, &spans, docs))
    })
}

/// Each version's documents, old then new ([`Lines::document_spans`]).
type Spans = (Vec<(usize, usize)>, Vec<(usize, usize)>);

/// Most items of a list document [`by_items`] aligns.
const MAX_ITEMS: usize = 4096;

/// The items of a list document (one document, its `items:` a block sequence, `docs` those
/// items) compared with the old version's items: the text around the sequence must be the
/// same; items of the same text are the same resources, unchanged; an old item whose text is
/// further on in `new` makes the new items before it added (a dashboard added to a
/// `ConfigMapList`); an old item facing a new one of other text is that resource modified
/// when both keep the same identity ([`identity`]), compared as nodes. `None` for
/// anything else: an item removed, an identity changed, no such list.
fn by_items(
    old: &Lines<'_>,
    new: &Lines<'_>,
    (old_spans, new_spans): &Spans,
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    // Each item's text (its lines up to the next item's, comments between them included)
    // and content lines (from 1); the text before the first item and after the last.
    type Items<'a> = (Vec<(&'a str, (usize, usize))>, &'a str, &'a str);
    fn items<'a>(lines: &Lines<'a>, spans: &[(usize, usize)]) -> Option<Items<'a>> {
        if spans.len() != 1 {
            return None;
        }
        // The top-level `items:` key, as the parser's `block_items` finds it.
        let key = (0..lines.count()).find(|&l| {
            lines.indent(l) == Some(0)
                && lines.line(l).strip_prefix("items:").is_some_and(|rest| {
                    rest.trim().is_empty() || rest.trim_start().starts_with('#')
                })
        })?;
        let first = (key + 1..lines.count()).find(|&l| lines.indent(l).is_some())?;
        let dash = lines.indent(first)?;
        let is_entry = |l: usize| {
            lines.indent(l) == Some(dash)
                && lines.line(l)[dash..]
                    .strip_prefix('-')
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        };
        if !is_entry(first) {
            return None;
        }
        let mut entries: Vec<(usize, usize)> = Vec::new();
        let mut end = lines.count();
        for l in first..lines.count() {
            let Some(at) = lines.indent(l) else {
                continue;
            };
            if is_entry(l) {
                entries.push((l, l));
            } else if at <= dash {
                end = l;
                break;
            } else if let Some(last) = entries.last_mut() {
                last.1 = l;
            }
        }
        if entries.len() > MAX_ITEMS {
            return None;
        }
        let mut texts = Vec::with_capacity(entries.len());
        for (i, &(first, last)) in entries.iter().enumerate() {
            let next = entries.get(i + 1).map_or(end, |next| next.0);
            texts.push((lines.slice(first..next), (first + 1, last + 1)));
        }
        let text: &'a str = lines.text;
        let before = &text[..lines.start(entries[0].0)];
        let after = &text[lines.start(end)..];
        Some((texts, before, after))
    }
    let (old_items, old_before, old_after) = items(old, old_spans)?;
    let (new_items, new_before, new_after) = items(new, new_spans)?;
    if old_before != new_before
        || old_after != new_after
        || new_items.len() != docs.len()
        || new_items
            .iter()
            .zip(docs)
            .any(|((_, lines), doc)| lines != doc)
    {
        return None;
    }
    let mut modified = vec![false; docs.len()];
    let mut old_lines = vec![None; docs.len()];
    // The new items' identities, read when first needed.
    let mut identities: Vec<Option<Option<Identity>>> = vec![None; new_items.len()];
    let (mut i, mut j) = (0, 0);
    while i < old_items.len() && j < new_items.len() {
        let (text, lines) = old_items[i];
        if text == new_items[j].0 {
            old_lines[j] = Some(lines);
            (i, j) = (i + 1, j + 1);
        } else if let Some(k) = (j + 1..new_items.len()).find(|&k| new_items[k].0 == text) {
            // new_items[j..k] added.
            j = k;
        } else {
            // The same resource further on, modified (the items before it added).
            let wanted = identity(text)?;
            let mut found = None;
            for k in j..new_items.len() {
                let id = identities[k].get_or_insert_with(|| identity(new_items[k].0));
                if id.as_ref()? == &wanted {
                    found = Some(k);
                    break;
                }
            }
            let k = found?;
            modified[k] = node_differs(text, new_items[k].0)?;
            old_lines[k] = Some(lines);
            (i, j) = (i + 1, k + 1);
        }
    }
    // An old item left over was removed: its identity is not known here.
    (i == old_items.len()).then_some(ChangedDocuments {
        modified,
        old_lines,
    })
}

/// What makes a resource's identity, as parsed values: `apiVersion`, `kind`, and
/// `metadata`'s `name`, `namespace` and `generateName` (`None` where absent).
type Identity = [Option<Value>; 5];

/// The identity of a list item's text (`- ` and its lines); `None` when the text is no
/// block mapping of plain keys or an identity entry does not parse alone.
fn identity(text: &str) -> Option<Identity> {
    let entries = entries_of(text)?;
    let metadata = metadata_entries(&entries)?;
    let value = |entries: &Entries<'_>, key: &str| -> Option<Option<Value>> {
        match entries.get(key) {
            None => Some(None),
            Some(text) => match parsed(text)? {
                Value::Object(mut map) if map.len() == 1 && !may_anchor(text) => {
                    Some(map.remove(key))
                }
                _ => None,
            },
        }
    };
    Some([
        value(&entries, "apiVersion")?,
        value(&entries, "kind")?,
        value(&metadata, "name")?,
        value(&metadata, "namespace")?,
        value(&metadata, "generateName")?,
    ])
}

/// Whether `keys` have the same value in both entries, or are absent from both.
fn same_entries(x: &Entries<'_>, y: &Entries<'_>, keys: &[&str]) -> Option<bool> {
    for k in keys {
        match (x.get(*k), y.get(*k)) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                if node_differs(a, b)? {
                    return Some(false);
                }
            }
            _ => return Some(false),
        }
    }
    Some(true)
}

/// The entries of the `metadata` entry among a resource's `entries` (none when absent);
/// `None` when it is no block mapping of plain keys.
fn metadata_entries(entries: &Entries<'_>) -> Option<Entries<'static>> {
    match entries.get("metadata") {
        Some(text) => entries_of(text),
        None => Some(Entries::new()),
    }
}

/// The entries of the block mapping a node's text holds ([`mapping_entries`]: under its
/// `key:` header, or an item's `- key: value` and the rest of its mapping), owned.
fn entries_of(text: &str) -> Option<Entries<'static>> {
    let index = LineIndex::new(text.as_bytes())?;
    let lines = Lines::of_str(text, &index)?;
    let entries = mapping_entries(&lines, 0..lines.count(), lines.indent(0)?)?;
    Some(
        entries
            .into_iter()
            .map(|(k, v)| (k, std::borrow::Cow::Owned(v.into_owned())))
            .collect(),
    )
}

/// Each document of `new` compared with the document at the same place in `old` by its
/// top-level entries (each differing entry as a node of its own, [`node_differs`]), when
/// both versions hold as many documents, each a block mapping from its first content line,
/// and each keeps its identity: `apiVersion`, `kind` and `metadata`'s `name`, `namespace`
/// and `generateName` the same text. For what [`by_nodes`] leaves: a top-level entry added
/// or removed (a CRD's `status:` dropped by a newer generator). `None` otherwise; `docs`
/// must be the documents themselves (a list document's items are not).
fn by_documents(
    old: &Lines<'_>,
    new: &Lines<'_>,
    (old_spans, new_spans): &Spans,
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    if new_spans != docs || old_spans.len() != new_spans.len() {
        return None;
    }
    let mut modified = Vec::with_capacity(docs.len());
    for (&(of, ol), &(nf, nl)) in old_spans.iter().zip(new_spans) {
        let (a, b) = (old.slice(of - 1..ol), new.slice(nf - 1..nl));
        if a == b {
            modified.push(false);
            continue;
        }
        let x = top_entries(old, of - 1..ol)?;
        let y = top_entries(new, nf - 1..nl)?;
        if !same_entries(&x, &y, &["apiVersion", "kind"])?
            || !same_entries(
                &metadata_entries(&x)?,
                &metadata_entries(&y)?,
                &IDENTITY_KEYS,
            )?
        {
            return None;
        }
        modified.push(entries_differ(&x, &y)?);
    }
    Some(ChangedDocuments {
        modified,
        old_lines: old_spans.iter().copied().map(Some).collect(),
    })
}

/// The top-level entries of the document on lines `range` (its first to its last content
/// line): a block mapping at column 0; `None` when it is no such mapping.
fn top_entries<'a>(lines: &Lines<'a>, range: std::ops::Range<usize>) -> Option<Entries<'a>> {
    entries_at(lines, range, 0, None)
}

/// The nodes of `new` that differ from `old` (module docs).
fn by_nodes(
    old: &Lines<'_>,
    new: &Lines<'_>,
    old_index: &LineIndex,
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    let parents = old_index.parents();
    let mut modified = vec![false; docs.len()];
    // Runs of lines the same on both sides, as (old start, new start, length): where a header
    // found before the current position is on the new side.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    // The nodes compared, as (old header, old end, new header, new end).
    let mut regions: Vec<(usize, usize, usize, usize)> = Vec::new();
    let (mut o, mut n) = (0, 0);
    let mut nodes = 0;
    loop {
        let (ob, nb) = (old.start(o), new.start(n));
        let common = common_prefix(&old.text.as_bytes()[ob..], &new.text.as_bytes()[nb..]);
        if ob + common == old.text.len() && nb + common == new.text.len() {
            break;
        }
        // The line of the first difference (the same number of lines from o and n).
        // (At or after `o`: the old side may have no line left.)
        let s_old = old.line_of(ob + common).max(o);
        let s_new = n + (s_old - o);
        let threshold = match (old.first_content(s_old), new.first_content(s_new)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        // The header: the nearest content line before, indented less than the threshold (the
        // lines between a line and its parent are indented no less than it). At the top
        // level, an item of an indentless sequence (`rules:` then `- apiGroups:`, as kubectl
        // and kustomize write) lies under the `key:` that opens it.
        let header = if threshold == 0 {
            old.indentless_sequence_key(s_old, new, s_new)?
        } else {
            let mut header = old.content_before(s_old)?;
            while old.indent(header)? >= threshold {
                header = parents.of(header)?;
            }
            header
        };
        // A line inside a block or multi-line scalar: the node is that scalar's entry.
        let header_old = old.node_of(parents, header)?;
        runs.push((o, n, s_old - o));
        let header_new = runs.iter().rev().find_map(|&(os, ns, len)| {
            (os..os + len)
                .contains(&header_old)
                .then(|| ns + (header_old - os))
        })?;
        let text = old.line(header_old);
        let indent = old.indent(header_old)?;
        let body = text.trim_start_matches(' ');
        if indent == 0 && !body.contains(':') {
            return None;
        }
        let compact = !body.starts_with("- ") && body.trim_end().ends_with(':');
        let end_old = old.node_end(header_old, indent, compact);
        let end_new = new.node_end(header_new, indent, compact);
        // The runs the node covers are compared again as part of it.
        runs.retain(|&(os, ..)| os < header_old);
        if let Some(last) = runs.last_mut() {
            last.2 = last.2.min(header_old - last.0);
        }
        nodes += 1;
        if nodes > MAX_NODES {
            return None;
        }
        let doc = docs
            .iter()
            .position(|&(first, last)| (first..=last).contains(&(header_new + 1)))?;
        // Where the node sits in its resource (a document, or an item of a list document):
        // the resource itself, one of its entries, or deeper.
        let start = docs[doc].0 - 1;
        let guard: &[&str] = if header_new == start {
            // A document is no node; a list item is, while its identity stays the same text.
            if !body.starts_with("- ") {
                return None;
            }
            &RESOURCE_KEYS
        } else {
            let entry_of_resource = match parents.of(header_old) {
                None => true,
                Some(parent) => {
                    let to_new = |line: usize| {
                        runs.iter()
                            .find(|&&(os, _, len)| (os..os + len).contains(&line))
                            .map(|&(os, ns, _)| ns + (line - os))
                            .or(regions
                                .iter()
                                .find(|&&(ho, ..)| ho == line)
                                .map(|&(_, _, hn, _)| hn))
                    };
                    to_new(parent)? == start
                }
            };
            match entry(body).map(|(key, _)| key) {
                Some("metadata") if entry_of_resource => &IDENTITY_KEYS,
                Some("apiVersion" | "kind" | "items") if entry_of_resource => return None,
                _ => &[],
            }
        };
        // A node of a document proven changed is only located, unless it must show that the
        // identity stayed.
        if !modified[doc] || !guard.is_empty() {
            let a = (old, header_old..end_old);
            let b = (new, header_new..end_new);
            let entries = (
                mapping_entries(a.0, a.1.clone(), indent),
                mapping_entries(b.0, b.1.clone(), indent),
            );
            // With `guard` keys (a resource's or its `metadata`'s identity), the node must be
            // a block mapping and those entries the same text.
            if !guard.is_empty() {
                let (Some(old), Some(new)) = &entries else {
                    return None;
                };
                if guard.iter().any(|k| old.get(*k) != new.get(*k)) {
                    return None;
                }
            }
            if !modified[doc] {
                modified[doc] = differ(entries, a, b)?;
            }
        }
        regions.retain(|&(ho, ..)| ho < header_old);
        regions.push((header_old, end_old, header_new, end_new));
        (o, n) = (end_old, end_new);
    }
    runs.push((o, n, old.count() - o));
    // The documents' boundaries are the same text: the same documents, shifted. A first
    // line is in a run or heads a node; a last line may lie in a node (its last content
    // line, then).
    let old_line = |new_line: usize, last: bool| {
        let at = new_line - 1;
        if let Some(&(os, ns, _)) = runs
            .iter()
            .find(|&&(_, ns, len)| (ns..ns + len).contains(&at))
        {
            return Some(os + (at - ns) + 1);
        }
        let &(ho, eo, hn, _) = regions
            .iter()
            .find(|&&(_, _, hn, en)| (hn..en).contains(&at))?;
        if at == hn {
            Some(ho + 1)
        } else if last {
            (ho..eo)
                .rev()
                .find(|l| old.indent(*l).is_some())
                .map(|l| l + 1)
        } else {
            None
        }
    };
    let old_lines = docs
        .iter()
        .map(|&(first, last)| Some(Some((old_line(first, false)?, old_line(last, true)?))))
        .collect::<Option<Vec<_>>>()?;
    Some(ChangedDocuments {
        modified,
        old_lines,
    })
}

/// Keys of `metadata` that make a resource's identity.
const IDENTITY_KEYS: [&str; 3] = ["name", "namespace", "generateName"];

/// Keys of a resource that make its identity.
const RESOURCE_KEYS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Whether the node `a` (lines of the old text) has a different value from `b` (of the new
/// text), given their block mapping `entries` when they are such mappings; `None` when not
/// proven. A block mapping is compared entry by entry, by its keys first: only the entries
/// whose text differs are compared, each as a node of its own ([`node_differs`]).
fn differ(
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
fn entries_differ(old: &Entries<'_>, new: &Entries<'_>) -> Option<bool> {
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
fn node_differs(a: &str, b: &str) -> Option<bool> {
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

/// The plain key and the value of a node's text that is one literal block scalar entry —
/// `key: |`, `key: |-` or `key: |+` on its first line (no indentation indicator, tag, anchor
/// or comment), then its content lines — computed as YAML does (the content's indentation is
/// its first non-empty line's, removed from each line; empty lines kept; the final line
/// breaks chomped); `None` for anything else or anything unusual (a line of spaces longer
/// than the indentation, `\r`, a comment after the content, no content): the caller parses.
/// The plain way: [`Literal`] compares two without building their values.
#[cfg(test)]
fn literal_block(text: &str) -> Option<(&str, String)> {
    let (key, chomp, spaces, body) = literal_header(text)?;
    let lines: Vec<&str> = body.split('\n').collect();
    // The content's indentation: its first line with a character other than a space.
    let n = lines.iter().find_map(|l| {
        let trimmed = l.trim_start_matches(' ');
        (!trimmed.is_empty()).then(|| l.len() - trimmed.len())
    })?;
    if n <= spaces {
        return None;
    }
    let mut parts = Vec::with_capacity(lines.len());
    for line in &lines {
        let trimmed = line.trim_start_matches(' ');
        if trimmed.is_empty() {
            // An empty line; spaces beyond the indentation would be content.
            if line.len() > n {
                return None;
            }
            parts.push("");
        } else if line.len() - trimmed.len() >= n {
            parts.push(&line[n..]);
        } else {
            // Less indented: the end of the scalar (a comment, or not this scalar's text).
            return None;
        }
    }
    let last = parts.iter().rposition(|p| !p.is_empty())?;
    let mut value = parts[..=last].join("\n");
    match chomp {
        '-' => {}
        ' ' => value.push('\n'),
        _ => value.extend(std::iter::repeat_n('\n', parts.len() - last)),
    }
    Some((key, value))
}

/// A literal block scalar entry's first line read: its key, its chomping (`' '` clip, `'-'`
/// strip, `'+'` keep), the line's indentation, and the content lines after it without the
/// final line break; `None` for anything but `key: |`, `key: |-` or `key: |+` followed by
/// lines ending in a line break, without `\r`.
fn literal_header(text: &str) -> Option<(&str, char, usize, &str)> {
    let (first, rest) = text.split_once('\n')?;
    let spaces = first.len() - first.trim_start_matches(' ').len();
    if first[spaces..].starts_with('-') {
        return None;
    }
    let (key, value) = entry(&first[spaces..])?;
    let chomp = match value {
        "|" => ' ',
        "|-" => '-',
        "|+" => '+',
        _ => return None,
    };
    if rest.is_empty() || memchr::memchr(b'\r', text.as_bytes()).is_some() || !text.ends_with('\n')
    {
        return None;
    }
    Some((key, chomp, spaces, &rest[..rest.len() - 1]))
}

/// A literal block scalar entry read as [`literal_block`] reads it (the plain way), without
/// building its value: two compare line by line, with no copy of their texts.
struct Literal<'a> {
    key: &'a str,
    /// `' '` (clip), `'-'` (strip) or `'+'` (keep).
    chomp: char,
    /// The content's indentation.
    indent: usize,
    /// The content lines, without the final line break.
    body: &'a str,
    /// How many content lines, and the last one not empty.
    count: usize,
    last: usize,
}

impl<'a> Literal<'a> {
    /// `None` where [`literal_block`] answers `None`.
    fn of(text: &'a str) -> Option<Literal<'a>> {
        let (key, chomp, spaces, body) = literal_header(text)?;
        // One pass: the indentation is the first content line's; the empty lines before it
        // are checked against it then.
        let (mut count, mut last, mut indent, mut blank) = (0, None, None, 0);
        for line in split_lines(body) {
            let spaces = leading_spaces(line.as_bytes());
            if spaces == line.len() {
                // An empty line; spaces beyond the indentation would be content.
                match indent {
                    Some(indent) if line.len() > indent => return None,
                    Some(_) => {}
                    None => blank = blank.max(line.len()),
                }
            } else {
                let at = *indent.get_or_insert(spaces);
                if spaces < at {
                    return None;
                }
                last = Some(count);
            }
            count += 1;
        }
        let indent = indent?;
        if indent <= spaces || blank > indent {
            return None;
        }
        Some(Literal {
            key,
            chomp,
            indent,
            body,
            count,
            last: last?,
        })
    }

    /// Each content line's part of the value (its indentation removed; empty lines empty).
    fn parts(&self) -> impl Iterator<Item = &'a str> {
        let indent = self.indent;
        split_lines(self.body).map(move |line| {
            if leading_spaces(line.as_bytes()) == line.len() {
                ""
            } else {
                &line[indent..]
            }
        })
    }

    /// The line breaks chomping leaves at the end of the value.
    fn final_breaks(&self) -> usize {
        match self.chomp {
            '-' => 0,
            ' ' => 1,
            _ => self.count - self.last,
        }
    }

    /// Whether the two entries differ: by key, or by value (the same parts up to the last
    /// one not empty, then as many final line breaks).
    fn differs(&self, other: &Literal<'_>) -> bool {
        self.key != other.key
            || self.last != other.last
            || self.final_breaks() != other.final_breaks()
            || self
                .parts()
                .zip(other.parts())
                .take(self.last + 1)
                .any(|(a, b)| a != b)
    }
}

/// The lines of `text` split at `\n`, as `text.split('\n')` gives them (a test proves it),
/// found a block of bytes at a time.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr_iter(b'\n', text.as_bytes())
        .map(Some)
        .chain(std::iter::once(None))
        .map(move |end| {
            let end = end.unwrap_or(text.len());
            let line = &text[start..end];
            start = end + 1;
            line
        })
}

/// An entry being read: its key, its first line's text when not the file's (`- key`
/// written without its `- `), where its lines start, and whether it opens a block (a
/// `key:` without a value, which a compact sequence may follow).
type Current = (String, Option<String>, usize, bool);

/// The block mapping entries on lines `range` whose keys are at `column`, `current` the
/// entry already begun on the line before; `None` when the lines are no such entries.
fn entries_at<'a>(
    lines: &Lines<'a>,
    range: std::ops::Range<usize>,
    column: usize,
    mut current: Option<Current>,
) -> Option<Entries<'a>> {
    let mut entries = Entries::new();
    let mut push = |current: Option<Current>, end: usize| match current {
        Some((key, first, start, _)) => {
            let text = match first {
                Some(mut first) => {
                    first.push_str(lines.slice(start + 1..end));
                    std::borrow::Cow::Owned(first)
                }
                None => std::borrow::Cow::Borrowed(lines.slice(start..end)),
            };
            entries.insert(key, text).is_none()
        }
        None => true,
    };
    for line in range.clone() {
        match lines.indent(line) {
            Some(at) if at == column => {
                let body = &lines.line(line)[at..];
                if is_item(body) && current.as_ref().is_some_and(|c| c.3) {
                    continue;
                }
                let (key, opens) = key_of(body)?;
                if !push(current.take(), line) {
                    return None;
                }
                current = Some((key, None, line, opens));
            }
            Some(at) if at < column => return None,
            _ => {
                current.as_ref()?;
            }
        }
    }
    if !push(current, range.end) {
        return None;
    }
    // `|2`, `>-4`, `|+1`: an indentation indicator.
    let explicit = |t: &std::borrow::Cow<'_, str>| {
        let b = t.as_bytes();
        memchr::memchr2_iter(b'|', b'>', b).any(|i| {
            let rest = &b[i + 1..];
            let rest = rest
                .strip_prefix(b"-")
                .or(rest.strip_prefix(b"+"))
                .unwrap_or(rest);
            rest.first().is_some_and(u8::is_ascii_digit)
        })
    };
    (!entries.values().any(explicit)).then_some(entries)
}

/// A block mapping's entries: each plain key with the entry's text.
type Entries<'a> = std::collections::BTreeMap<String, std::borrow::Cow<'a, str>>;

/// Whether two texts of a node parse to different values; `None` when one does not parse
/// alone, or when they are equal but may define an anchor that an alias elsewhere names.
fn parsed_entry(a: &str, b: &str) -> Option<bool> {
    if parsed(a)? != parsed(b)? {
        return Some(true);
    }
    (!may_anchor(a) && !may_anchor(b)).then_some(false)
}

/// The entries of the block mapping that node `range` (headed by a line indented `indent`)
/// holds, each key (plain text read as itself) with the entry's text, indented as in the
/// file; `None` when the node is not such a mapping: its header has a value on its line
/// (other than `- ` starting the first entry), an entry's key is not plain text, a key
/// repeats, or a block scalar's indentation is given explicitly (it counts from the column).
/// A compact sequence (`- ` items at the entries' column) belongs to the `key:` before it.
fn mapping_entries<'a>(
    lines: &Lines<'a>,
    range: std::ops::Range<usize>,
    indent: usize,
) -> Option<Entries<'a>> {
    let header = lines.line(range.start);
    let body = &header[indent..];
    let mut current: Option<Current> = None;
    let column = match body.strip_prefix("- ") {
        // `- key: value`: the item's mapping starts on the header line.
        Some(rest) => {
            let first = rest.trim_start_matches(' ');
            let column = header.len() - first.len();
            let (key, opens) = key_of(first)?;
            current = Some((
                key,
                Some(format!("{}{first}\n", " ".repeat(column))),
                range.start,
                opens,
            ));
            column
        }
        None => {
            let (_, value) = entry(body)?;
            if !(value.is_empty() || value.starts_with('#')) {
                return None;
            }
            (range.start + 1..range.end).find_map(|l| lines.indent(l))?
        }
    };
    if column <= indent {
        return None;
    }
    entries_at(lines, range.start + 1..range.end, column, current)
}

/// A block mapping entry's key (plain text read as itself) and whether the entry opens a
/// block (no value on its line); `None` when the line is no such entry.
fn key_of(body: &str) -> Option<(String, bool)> {
    let (key, value) = entry(body)?;
    match quick_value(key)? {
        Value::String(key) if !key.starts_with(['"', '\'']) => {
            Some((key, value.is_empty() || value.starts_with('#')))
        }
        _ => None,
    }
}

/// The value of a node's text parsed alone; `None` when it does not parse.
fn parsed(text: &str) -> Option<Value> {
    parse_yaml_document(text)
        .ok()
        .map(|v| v.unwrap_or(Value::Null))
}

/// Whether a node's text may define an anchor (`&name` where a node starts).
fn may_anchor(text: &str) -> bool {
    text.contains(" &") || text.contains("\n&") || text.starts_with('&')
}

/// A block mapping entry's plain key and the rest of the line after `:` (trimmed): `None`
/// when the text is no such entry (a quoted or complex key, a scalar).
fn entry(body: &str) -> Option<(&str, &str)> {
    let (key, value) = match body.split_once(": ") {
        Some((key, value)) => (key, value.trim()),
        None => (body.trim_end().strip_suffix(':')?, ""),
    };
    let plain = !key.is_empty()
        && !key.starts_with([
            '"', '\'', '?', '&', '*', '!', '|', '>', '{', '[', '#', '%', '@', '`',
        ])
        && !key.contains(" #");
    plain.then_some((key, value))
}

/// Where a file version's lines start, how they are indented and which line each lies under:
/// built once per version ([`LineIndex::new`]), or from the index of a neighbouring version
/// of the same file ([`LineIndex::derived`]: only the lines between their common prefix and
/// suffix are read), and kept by a caller comparing it again (a history walk meets each
/// version as the newer side of one change and the older side of the next). Lines are split
/// at `\n`; a text ending in `\n` has an empty last line. An index exists only for UTF-8
/// text without tab indentation, shorter than 4 GiB, indented less than 65,535 columns.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// The length of the text indexed.
    len: usize,
    starts: Vec<u32>,
    /// Each line's indentation when it is content; [`NOT_CONTENT`] for a blank or comment
    /// line.
    indents: Vec<u16>,
    /// Each content line's parent ([`NO_LINE`] for none): built when first needed.
    parents: std::sync::OnceLock<Vec<u32>>,
}

/// A line's indentation in [`LineIndex`] when it is blank or a comment.
const NOT_CONTENT: u16 = u16::MAX;

/// No line, in [`LineIndex`]'s parents.
const NO_LINE: u32 = u32::MAX;

impl LineIndex {
    /// The index of `text`; `None` when it is not UTF-8, a line is indented with a tab (not
    /// proven: the caller parses) or the text is too large for one.
    pub fn new(text: &[u8]) -> Option<LineIndex> {
        std::str::from_utf8(text).ok()?;
        let mut index = LineIndex {
            len: text.len(),
            starts: Vec::with_capacity(memchr::memchr_iter(b'\n', text).count() + 1),
            indents: Vec::new(),
            parents: std::sync::OnceLock::new(),
        };
        index.push_lines(text, 0, text.len())?;
        Some(index)
    }

    /// The index of `text` from the index of another version of the same file, `from`: the
    /// lines in their common prefix and suffix are taken from it, only those between are
    /// read. Equal to [`LineIndex::new`] of `text` (a test proves it); `None` when that is.
    pub fn derived((old, old_index): (&[u8], &LineIndex), text: &[u8]) -> Option<LineIndex> {
        if old_index.len != old.len() || u32::try_from(text.len()).is_err() {
            return LineIndex::new(text);
        }
        let prefix = super::scalar_diff::common_prefix(old, text);
        if prefix == old.len() && prefix == text.len() {
            let mut same = old_index.clone();
            same.parents = std::sync::OnceLock::new();
            return Some(same);
        }
        // The lines before the one holding the first difference, line break included, are
        // the same in both texts.
        let first = old_index.starts.partition_point(|s| *s as usize <= prefix) - 1;
        let at = old_index.starts[first] as usize;
        let suffix = super::scalar_diff::common_suffix(&old[at..], &text[at..]);
        // The old lines whose line break before them lies in the common suffix: the same
        // text to the end, shifted by the difference in length.
        let tail = old_index
            .starts
            .partition_point(|s| (*s as usize) < old.len() - suffix + 1)
            .max(first + 1);
        let middle_end = match old_index.starts.get(tail) {
            Some(&s) => s as usize + text.len() - old.len(),
            None => text.len(),
        };
        std::str::from_utf8(&text[at..middle_end]).ok()?;
        let mut index = LineIndex {
            len: text.len(),
            starts: Vec::with_capacity(old_index.starts.len()),
            indents: Vec::with_capacity(old_index.starts.len()),
            parents: std::sync::OnceLock::new(),
        };
        index.starts.extend_from_slice(&old_index.starts[..first]);
        index.indents.extend_from_slice(&old_index.indents[..first]);
        if tail < old_index.starts.len() {
            // The middle's lines: up to the line break before the first shifted line.
            index.push_lines(text, at, middle_end - 1)?;
            let shift = |s: &u32| (*s as usize + text.len() - old.len()) as u32;
            index
                .starts
                .extend(old_index.starts[tail..].iter().map(shift));
            index.indents.extend_from_slice(&old_index.indents[tail..]);
        } else {
            index.push_lines(text, at, text.len())?;
        }
        Some(index)
    }

    /// Appends the line starting at `from` and one more after each line break before
    /// `until`, each with its indentation; `None` at a tab in indentation or an indentation
    /// too deep to keep.
    fn push_lines(&mut self, text: &[u8], from: usize, until: usize) -> Option<()> {
        let breaks = memchr_iter(b'\n', &text[from..until]).map(|i| from + i + 1);
        for start in std::iter::once(from).chain(breaks) {
            let spaces = leading_spaces(&text[start..]);
            let rest = match text.get(start + spaces) {
                Some(b'\t') => return None,
                Some(b'\r') => text[start + spaces..]
                    .iter()
                    .copied()
                    .find(|b| !matches!(b, b' ' | b'\t' | b'\r')),
                next => next.copied(),
            };
            let indent = match rest {
                None | Some(b'\n') | Some(b'#') => NOT_CONTENT,
                Some(_) => u16::try_from(spaces).ok().filter(|s| *s != NOT_CONTENT)?,
            };
            self.starts.push(u32::try_from(start).ok()?);
            self.indents.push(indent);
        }
        Some(())
    }

    /// [`LineIndex::new`] with the parents built too: for a thread that prepares indexes
    /// for another (the history walk's reading thread).
    pub fn with_parents(text: &[u8]) -> Option<LineIndex> {
        let index = LineIndex::new(text)?;
        index.parents();
        Some(index)
    }

    /// [`LineIndex::derived`] with the parents built too.
    pub fn derived_with_parents(from: (&[u8], &LineIndex), text: &[u8]) -> Option<LineIndex> {
        let index = LineIndex::derived(from, text)?;
        index.parents();
        Some(index)
    }

    /// For each content line, the nearest content line before it indented less (its parent
    /// in the block structure, or a line of the scalar it continues).
    fn parents(&self) -> Parents<'_> {
        Parents(self.parents.get_or_init(|| {
            let mut parents = vec![NO_LINE; self.starts.len()];
            let mut stack: Vec<(u32, u16)> = Vec::new();
            for (line, &indent) in self.indents.iter().enumerate() {
                if indent == NOT_CONTENT {
                    continue;
                }
                while stack.last().is_some_and(|(_, at)| *at >= indent) {
                    stack.pop();
                }
                parents[line] = stack.last().map_or(NO_LINE, |(above, _)| *above);
                stack.push((line as u32, indent));
            }
            parents
        }))
    }
}

/// How many spaces `text` starts with: eight bytes at a time (indentation is often deep in
/// generated files), equal to counting them one by one (a test proves it).
fn leading_spaces(text: &[u8]) -> usize {
    const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
    let mut at = 0;
    while let Some(word) = text.get(at..at + 8) {
        let other = u64::from_le_bytes(word.try_into().unwrap_or([0; 8])) ^ SPACES;
        if other != 0 {
            return at + (other.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + text[at..].iter().take_while(|b| **b == b' ').count()
}

/// Each content line's parent ([`LineIndex::parents`]).
#[derive(Clone, Copy)]
struct Parents<'a>(&'a [u32]);

impl Parents<'_> {
    fn of(&self, line: usize) -> Option<usize> {
        let parent = self.0[line];
        (parent != NO_LINE).then_some(parent as usize)
    }
}

/// A text with its [`LineIndex`].
struct Lines<'a> {
    text: &'a str,
    starts: &'a [u32],
    indents: &'a [u16],
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8], index: &'a LineIndex) -> Option<Lines<'a>> {
        Lines::of_str(std::str::from_utf8(text).ok()?, index)
    }

    /// [`Lines::new`] of a text known to be UTF-8.
    fn of_str(text: &'a str, index: &'a LineIndex) -> Option<Lines<'a>> {
        if index.len != text.len() {
            return None;
        }
        Some(Lines {
            text,
            starts: &index.starts,
            indents: &index.indents,
        })
    }

    fn count(&self) -> usize {
        self.starts.len()
    }

    /// Line `i`'s indentation when it is content (not blank, not a comment).
    fn indent(&self, i: usize) -> Option<usize> {
        let at = self.indents[i];
        (at != NOT_CONTENT).then_some(at as usize)
    }

    /// The first and last content line (from 1) of each document, as the parser splits
    /// them (`documents::split_documents`); `None` for anything but documents separated by
    /// bare `---` lines (a comment after one allowed): content on a `---` line, `...`, a
    /// directive, an empty document.
    fn document_spans(&self) -> Option<Vec<(usize, usize)>> {
        let mut spans = Vec::new();
        let mut current: Option<(usize, usize)> = None;
        let mut explicit = false;
        for line in 0..self.count() {
            if self.indent(line) != Some(0) {
                if self.indent(line).is_some() {
                    let first = current.map_or(line + 1, |(first, _)| first);
                    current = Some((first, line + 1));
                }
                continue;
            }
            let text = self.line(line);
            if text.starts_with('%') || text.starts_with("...") {
                return None;
            }
            if let Some(rest) = text.strip_prefix("---")
                && (rest.is_empty() || rest.starts_with([' ', '\t']))
            {
                let rest = rest.trim();
                if !(rest.is_empty() || rest.starts_with('#')) {
                    return None;
                }
                match current.take() {
                    Some(span) => spans.push(span),
                    None if explicit => return None,
                    None => {}
                }
                explicit = true;
                continue;
            }
            let first = current.map_or(line + 1, |(first, _)| first);
            current = Some((first, line + 1));
        }
        match current {
            Some(span) => spans.push(span),
            None if explicit => return None,
            None => {}
        }
        Some(spans)
    }

    /// Where line `i` starts; the end of the text for `i == count()`.
    fn start(&self, i: usize) -> usize {
        self.starts.get(i).map_or(self.text.len(), |s| *s as usize)
    }

    /// The text of lines `range`, line breaks included.
    fn slice(&self, range: std::ops::Range<usize>) -> &'a str {
        &self.text[self.start(range.start)..self.start(range.end)]
    }

    /// Line `i` without its line break.
    fn line(&self, i: usize) -> &'a str {
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.text.len(), |next| *next as usize - 1);
        let line = &self.text[self.start(i)..end];
        line.strip_suffix('\r').unwrap_or(line)
    }

    /// The line holding byte `at`.
    fn line_of(&self, at: usize) -> usize {
        self.starts.partition_point(|s| *s as usize <= at) - 1
    }

    /// The last content line before line `i`.
    fn content_before(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|line| self.indent(*line).is_some())
    }

    /// When the first content line at or after line `i` here, and at or after `j` in
    /// `other`, is each indented more than 0 or a sequence item (`- `), the top-level `key:`
    /// of the indentless sequence those items are in: the nearest content line before `i`
    /// at the top level that is no item, when it is a key without a value. `None` otherwise
    /// (a difference at the top level proper).
    fn indentless_sequence_key(&self, i: usize, other: &Lines<'_>, j: usize) -> Option<usize> {
        let item_or_deeper = |lines: &Lines<'_>, from: usize| {
            (from.min(lines.count())..lines.count())
                .find_map(|l| lines.indent(l).map(|at| (l, at)))
                .is_none_or(|(l, at)| at > 0 || is_item(lines.line(l)))
        };
        if !item_or_deeper(self, i) || !item_or_deeper(other, j) {
            return None;
        }
        let key = (0..i)
            .rev()
            .find(|&l| self.indent(l) == Some(0) && !is_item(self.line(l)))?;
        let (_, value) = entry(self.line(key))?;
        (value.is_empty() || value.starts_with('#')).then_some(key)
    }

    /// The indentation of the first content line at or after `i`.
    fn first_content(&self, i: usize) -> Option<usize> {
        (i.min(self.count())..self.count()).find_map(|l| self.indent(l))
    }

    /// The header of the node that content line `line` lies in: the line itself when each
    /// line above it (its parent, and so on to the top level) opens a block collection —
    /// `key:`, `-`, or `- key: value` whose mapping goes on at the line below's indentation;
    /// else the topmost line that starts a scalar the lines below it continue (a block
    /// scalar's `key: |`, a multi-line plain or quoted scalar's first line).
    fn node_of(&self, parents: Parents<'_>, mut line: usize) -> Option<usize> {
        let mut node = line;
        while let Some(above) = parents.of(line) {
            let (at, indent) = (self.indent(above)?, self.indent(line)?);
            let text = self.line(above);
            let mut body = &text[at..];
            let mut column = at;
            while let Some(rest) = body
                .strip_prefix("- ")
                .or(body.strip_prefix('-').filter(|r| r.is_empty()))
            {
                body = rest.trim_start_matches(' ');
                column = text.len() - body.len();
            }
            let opens = body.is_empty()
                || match entry(body) {
                    // `key:` (a comment after it is no value).
                    Some((_, value)) => {
                        value.is_empty()
                            || value.starts_with('#')
                            // `- key: value`: the item's mapping goes on at `key`'s column.
                            || (column > at && indent == column)
                    }
                    None => false,
                };
            if !opens {
                node = above;
            }
            line = above;
        }
        Some(node)
    }

    /// The line after the node headed by line `header` (indented `indent`): the first content
    /// line indented no deeper (a `- ` item at `indent` stays inside a `compact` header), or
    /// the end of the text.
    fn node_end(&self, header: usize, indent: usize, compact: bool) -> usize {
        for line in header + 1..self.count() {
            let Some(at) = self.indent(line) else {
                continue;
            };
            if at < indent || (at == indent && !(compact && is_item(&self.line(line)[at..]))) {
                return line;
            }
        }
        self.count()
    }
}

/// A line's content that is a block sequence item.
fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Format, parse};

    /// The plain way: each document parsed whole, compared by value.
    fn by_parsing(old: &str, new: &str) -> Vec<bool> {
        let a = parse(Format::Yaml, old.as_bytes()).unwrap();
        let b = parse(Format::Yaml, new.as_bytes()).unwrap();
        assert_eq!(a.len(), b.len());
        a.iter().zip(&b).map(|(a, b)| a.value != b.value).collect()
    }

    fn docs(text: &str) -> Vec<(usize, usize)> {
        parse(Format::Yaml, text.as_bytes())
            .unwrap()
            .iter()
            .map(|d| (d.line, d.end_line))
            .collect()
    }

    /// Asserts that a proof, when given, equals the plain way.
    fn check(old: &str, new: &str) -> Option<Vec<bool>> {
        let proven = changed_documents(old.as_bytes(), new.as_bytes(), &docs(new))?;
        assert_eq!(proven.modified, by_parsing(old, new), "{old}\n=>\n{new}");
        let old_docs: Vec<_> = docs(old).into_iter().map(Some).collect();
        assert_eq!(proven.old_lines, old_docs);
        Some(proven.modified)
    }

    const CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.13.0
  name: things.example.com
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            description: |-
              The spec.
              Two lines.
            properties:
              a:
                type: string
              c:
                description: C is
                  folded over lines.
                type: integer
            type: object
        type: object
    served: true
";

    #[test]
    fn lines_added_in_a_nested_mapping_change_the_document() {
        let new = CRD.replace(
            "              c:\n",
            "              b:\n                type: boolean\n              c:\n",
        );
        assert_eq!(check(CRD, &new), Some(vec![true]));
    }

    #[test]
    fn block_and_folded_scalars_compare_by_value() {
        let literal = CRD.replace(
            "              Two lines.\n",
            "              Three\n              lines.\n",
        );
        assert_eq!(check(CRD, &literal), Some(vec![true]));
        let folded = CRD.replace(
            "C is\n                  folded over lines.",
            "C is folded\n                  over lines.",
        );
        // The same value: neutral.
        assert_eq!(check(CRD, &folded), Some(vec![false]));
        let reordered = CRD.replace(
            "              a:\n                type: string\n              c:\n                description: C is\n                  folded over lines.\n                type: integer\n",
            "              c:\n                type: integer\n                description: C is folded over lines.\n              a:\n                type: string\n",
        );
        assert_eq!(check(CRD, &reordered), Some(vec![false]));
    }

    #[test]
    fn identity_changes_are_left_to_the_parser() {
        for new in [
            CRD.replace("  name: things.example.com", "  name: other.example.com"),
            CRD.replace("kind: CustomResourceDefinition", "kind: Other"),
            CRD.replace("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"),
            format!("{CRD}---\n{CRD}"),
            format!("--- !tag\n{CRD}"),
        ] {
            assert_eq!(check(CRD, &new), None, "{new}");
        }
        // Annotations are below metadata's own entries; metadata's other entries compare
        // while those that make the identity stay the same text.
        let annotated = CRD.replace("v0.13.0", "v0.14.0\n    extra: x");
        assert_eq!(check(CRD, &annotated), Some(vec![true]));
        let labelled = CRD.replace("  name: things", "  labels:\n    a: b\n  name: things");
        assert_eq!(check(CRD, &labelled), Some(vec![true]));
        let namespaced = CRD.replace("  name: things", "  namespace: x\n  name: things");
        assert_eq!(check(CRD, &namespaced), None);
    }

    /// A difference at the top level (an entry added or removed, as a newer generator drops
    /// a CRD's `status:`): each document compared by its top-level entries, equal to parsing.
    #[test]
    fn top_level_entries_compare_document_by_document() {
        let status = format!("{CRD}status:\n  acceptedNames:\n    kind: \"\"\n  conditions: []\n");
        assert_eq!(check(&status, CRD), Some(vec![true]));
        assert_eq!(check(CRD, &status), Some(vec![true]));
        let commented = CRD.replace("spec:\n  versions:", "# a comment\nspec:\n  versions:");
        assert_eq!(check(CRD, &commented), Some(vec![false]));
        let both = status.replace("v0.13.0", "v0.14.0").replace(
            "    served: true\n",
            "    served: true\n    storage: true\n",
        );
        assert_eq!(
            check(
                &status,
                &both.replace(
                    "status:\n  acceptedNames:\n    kind: \"\"\n  conditions: []\n",
                    ""
                )
            ),
            Some(vec![true])
        );
        // Two documents: the second one's top level changes, the first stays.
        let two = format!("{CRD}---\n{}", CRD.replace("things", "others"));
        let second = format!(
            "{CRD}---\n{}status: {{}}\n",
            CRD.replace("things", "others")
        );
        assert_eq!(check(&two, &second), Some(vec![false, true]));
        // Keys reordered at the top level: the same value.
        let reordered = CRD.replace(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n",
            "kind: CustomResourceDefinition\napiVersion: apiextensions.k8s.io/v1\n",
        );
        assert_eq!(
            check(&format!("{CRD}x: 1\n"), &format!("{reordered}x: 1\n")),
            Some(vec![false])
        );
        // Metadata's identity moved under other text: left to the parser.
        let named = CRD.replace(
            "  name: things.example.com\n",
            "  name: things.example.com\n  namespace: x\n",
        );
        assert_eq!(check(&status, &named), None);
    }

    /// `rules:` then `- apiGroups:` at the same column (an indentless sequence, as kubectl and
    /// kustomize write it): items added, removed or edited are the `rules` entry's change,
    /// equal to parsing; a change at the top level proper (a key added after the sequence, an
    /// item of `items`) is still left to the parser.
    #[test]
    fn items_of_indentless_sequences_change_their_key() {
        const ROLE: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules:
- apiGroups:
  - \"\"
  resources:
  - pods
  verbs:
  - list
- apiGroups:
  - apps
  resources:
  - deployments
  verbs:
  - get
";
        let removed = ROLE.replace(
            "  verbs:\n  - list\n- apiGroups:\n  - apps\n",
            "  verbs:\n  - list\n  - watch\n- apiGroups:\n  - batch\n",
        );
        assert_eq!(check(ROLE, &removed), Some(vec![true]));
        let appended =
            format!("{ROLE}- apiGroups:\n  - batch\n  resources:\n  - jobs\n  verbs:\n  - get\n");
        assert_eq!(check(ROLE, &appended), Some(vec![true]));
        assert_eq!(check(&appended, ROLE), Some(vec![true]));
        let first_dropped = ROLE.replace(
            "- apiGroups:\n  - \"\"\n  resources:\n  - pods\n  verbs:\n  - list\n",
            "",
        );
        assert_eq!(check(ROLE, &first_dropped), Some(vec![true]));
        // The same rules written again with a comment between items: no change.
        let commented = ROLE.replace("  - list\n- apiGroups:", "  - list\n# apps\n- apiGroups:");
        assert_eq!(check(ROLE, &commented), Some(vec![false]));
        // A top-level key after the sequence is not one of its items: the document's
        // top-level entries compare.
        assert_eq!(
            check(ROLE, &format!("{ROLE}aggregationRule: {{}}\n")),
            Some(vec![true])
        );
        // An item appended to `items:` of a list document: that item added.
        let list = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n";
        let more = format!("{list}- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n");
        assert_eq!(
            check_list(list, &more),
            Some(vec![(false, false), (true, false)])
        );
    }

    #[test]
    fn several_documents_and_several_nodes() {
        let two = format!("{CRD}---\n{}", CRD.replace("things", "others"));
        let new = two.replacen(
            "                type: string\n",
            "                type: string\n                format: date\n",
            2,
        );
        assert_eq!(check(&two, &new), Some(vec![true, true]));
        let second_only = format!(
            "{CRD}---\n{}",
            CRD.replace("things", "others")
                .replace("served: true", "served: false\n    storage: true")
        );
        assert_eq!(check(&two, &second_only), Some(vec![false, true]));
        // A change, then lines whose node starts before it (found in the runs) and one that
        // only rewraps a scalar: located, not parsed.
        let both = CRD
            .replace("type: string", "type: number")
            .replace("C is\n                  folded over lines.", "C is folded\n                  over lines.")
            .replace("            type: object\n        type", "            type: object\n            x-kubernetes-preserve-unknown-fields: true\n        type");
        assert_eq!(check(CRD, &both), Some(vec![true]));
    }

    #[test]
    fn nodes_that_do_not_parse_alone_are_not_proven() {
        let flow = "a: 1\nb:\n  args: [\n    x,\n    y\n  ]\n";
        let new = flow.replace("    y\n", "    z\n");
        // Cut at its closing line by the nodes; compared whole as its entry by the
        // documents' top-level entries.
        assert_eq!(check(flow, &new), Some(vec![true]));
        let anchored = "a: &x [\n  1\n]\nb: *x\n";
        assert_eq!(check(anchored, &anchored.replace("  1", "  2")), None);
        let alias = "a: &x 1\nb:\n  c:\n    d: *x\n    e: 1\n";
        assert_eq!(check(alias, &alias.replace("e: 1", "e: *x")), None);
        // Entries other than the changed one are not parsed.
        assert_eq!(
            check(alias, &alias.replace("e: 1", "e: 2")),
            Some(vec![true])
        );
        // In a block scalar, `# x` is text (read alone, a comment): the node is the scalar's
        // entry.
        let script = "a:\n  run: |\n    echo\n      x # one\n";
        assert_eq!(
            check(script, &script.replace("one", "two")),
            Some(vec![true])
        );
        // Lines of a quoted scalar are no node either; the scalar's own entry is.
        let quoted = "a:\n  b: \"x\n    \\x41\"\n";
        assert_eq!(
            check(quoted, &quoted.replace("\\x41", "A")),
            Some(vec![false])
        );
        assert_eq!(
            check(quoted, &quoted.replace("\\x41", "B")),
            Some(vec![true])
        );
        // Equal values, but the anchor an alias names moved.
        let anchors = "a:\n  b: &x 1\n  c: &y 2\nd: *x\n";
        assert_eq!(
            check(
                anchors,
                &anchors.replace("&x 1", "&y 1").replace("&y 2", "&x 2")
            ),
            None
        );
        let tabs = "a:\n\tb: 1\n";
        assert!(changed_documents(tabs.as_bytes(), b"a:\n\tb: 2\n", &[(1, 2)]).is_none());
    }

    /// The items of a list document's two versions, compared as the proof compares them.
    /// The same items in the same order: each modified or not ([`check_list`], which
    /// compares with parsing).
    fn check_items(old: &str, new: &str) -> Option<Vec<bool>> {
        let proven = check_list(old, new)?;
        assert!(proven.iter().all(|(added, _)| !added), "{old}\n=>\n{new}");
        Some(proven.into_iter().map(|(_, modified)| modified).collect())
    }

    const LIST: &str = "\
apiVersion: v1
kind: ConfigMapList
items:
- apiVersion: v1
  data:
    a.json: |-
      {
        \"a\": 1
      }
  kind: ConfigMap
  metadata:
    name: one
- apiVersion: v1
  data:
    b.json: |-
      {}
  kind: ConfigMap
  metadata:
    labels:
      x: y
    name: two
";

    #[test]
    fn list_items_are_resources_of_their_own() {
        let data = LIST.replace("\"a\": 1", "\"a\": 1,\n        \"b\": 2");
        assert_eq!(check_items(LIST, &data), Some(vec![true, false]));
        let entry = LIST.replace("      {}\n", "      {}\n    c.json: |-\n      []\n");
        assert_eq!(check_items(LIST, &entry), Some(vec![false, true]));
        let labels = LIST.replace("      x: y\n", "      x: y\n      z: w\n");
        assert_eq!(check_items(LIST, &labels), Some(vec![false, true]));
        // An item's identity, the list's own keys, an item added: parsed.
        for new in [
            LIST.replace("name: two", "name: three"),
            LIST.replace(
                "  kind: ConfigMap\n  metadata:\n    name: one",
                "  kind: Secret\n  metadata:\n    name: one",
            ),
            LIST.replace("    labels:\n", "    namespace: x\n    labels:\n"),
            LIST.replace("kind: ConfigMapList", "kind: List"),
        ] {
            let proven = changed_documents(
                LIST.as_bytes(),
                new.as_bytes(),
                &parse(Format::Yaml, new.as_bytes()).unwrap()[0].item_lines,
            );
            assert_eq!(proven, None, "{new}");
        }
        let four =
            format!("{LIST}- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: four\n");
        assert_eq!(
            check_list(LIST, &four),
            Some(vec![(false, false), (false, false), (true, false)])
        );
        // A document is no node: metadata first, its entries changed.
        let first = "metadata:\n  name: a\n  labels:\n    x: y\nkind: ConfigMap\napiVersion: v1\n";
        assert_eq!(
            check(first, &first.replace("x: y", "x: z")),
            Some(vec![true])
        );
        assert_eq!(
            check(first, &first.replace("  labels:", "  annotations:")),
            Some(vec![true])
        );
        assert_eq!(check(first, &first.replace("  name: a", "  name: b")), None);
    }

    /// Block scalar headers, lines before the content, and contents (each indented 4 or more)
    /// that the literal block tests combine: usual ones and each unusual case.
    const LITERAL_HEADERS: [&str; 5] = ["|", "|-", "|+", "|2", ">"];
    const LITERAL_LEADS: [&str; 4] = ["", "\n", "  \n", "      \n"];
    const LITERAL_BODIES: [&str; 17] = [
        "    a\n",
        "    a\n      b\n",
        "    a\n\n    b\n",
        "    # not a comment\n    x: y\n",
        "    a\n    \n",
        "    a\n      \n",
        "    a\n\n\n",
        "    a\n\n",
        "    a\n  # trailing\n",
        "    a\n   b\n",
        "    a\tb\n     \tc\n",
        "      a\n",
        "    b\n",
        "    a\r\n",
        "    a",
        "",
        "    a\n    b",
    ];

    /// The literal block scalars [`literal_block`] reads have the value the parser gives;
    /// those it leaves to the parser are the unusual ones.
    #[test]
    fn literal_blocks_read_as_the_parser_reads_them() {
        let mut read = 0;
        for chomp in LITERAL_HEADERS {
            for lead in LITERAL_LEADS {
                for body in LITERAL_BODIES {
                    for indent in ["", "  "] {
                        let text = format!("{indent}key: {chomp}\n{lead}{body}");
                        let parsed = parse_yaml_document(&text).ok().flatten();
                        if let Some((key, value)) = literal_block(&text) {
                            assert_eq!(parsed, Some(serde_json::json!({ key: value })), "{text:?}");
                            read += 1;
                        }
                    }
                }
            }
        }
        assert!(read >= 60, "{read}");
        assert_eq!(literal_block("- key: |\n  a\n"), None);
    }

    /// Literal blocks compared line by line ([`Literal`]) differ exactly where the values
    /// [`literal_block`] builds differ, and are read where it reads them.
    #[test]
    fn literal_blocks_compare_as_their_values() {
        let mut texts = Vec::new();
        for key in ["key", "other"] {
            for chomp in LITERAL_HEADERS {
                for lead in LITERAL_LEADS {
                    for body in LITERAL_BODIES {
                        texts.push(format!("  {key}: {chomp}\n{lead}{body}"));
                    }
                }
            }
        }
        let mut compared = 0;
        for a in &texts {
            assert_eq!(
                Literal::of(a).is_some(),
                literal_block(a).is_some(),
                "{a:?}"
            );
            for b in &texts {
                if let (Some(x), Some(y)) = (Literal::of(a), Literal::of(b)) {
                    let plain = literal_block(a) != literal_block(b);
                    assert_eq!(x.differs(&y), plain, "{a:?} {b:?}");
                    compared += usize::from(plain);
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// Nodes compared below their first level: entries of entries, items of sequences with
    /// as many items on both sides, a compact sequence under a key, literal blocks; each
    /// equal to parsing.
    #[test]
    fn nested_nodes_compare_as_parsed() {
        let two = CRD.replace(
            "    served: true\n",
            "    served: true\n  - name: v2\n    schema:\n      openAPIV3Schema:\n        type: object\n        x-list:\n        - a\n        - b\n    served: false\n",
        );
        for (from, to) in [
            ("        - b\n", "        - b\n        - c\n"),
            ("        - b\n", "        - c\n"),
            ("        - b\n", "        - 'b'\n"),
            ("        - a\n", "        # a comment\n        - a\n"),
            ("              Two lines.\n", "              Two lines.\n\n"),
            ("              Two lines.\n", "              Two  lines.\n"),
            ("description: |-\n", "description: |\n"),
            (
                "    served: false\n",
                "    served: false\n    deprecated: true\n",
            ),
        ] {
            let new = two.replace(from, to);
            assert_ne!(new, two);
            assert!(check(&two, &new).is_some(), "{to}");
        }
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: a\n    ports:\n    - containerPort: 80\n    image: x\n";
        for (from, to) in [
            (
                "    - containerPort: 80\n",
                "    - containerPort: 80\n    - containerPort: 81\n",
            ),
            ("containerPort: 80", "containerPort: 0x50"),
            ("    image: x\n", "    image: x\n    args:\n    - run\n"),
        ] {
            assert!(check(pod, &pod.replace(from, to)).is_some(), "{to}");
        }
        assert_eq!(check(pod, &pod.replace("80", "0x50")), Some(vec![false]));
    }

    /// A list document's items proven against parsing both versions, items matched by
    /// identity: each new item added (not in the old list) or modified or not, and where it
    /// was.
    fn check_list(old: &str, new: &str) -> Option<Vec<(bool, bool)>> {
        let (a, b) = (
            &parse(Format::Yaml, old.as_bytes()).unwrap()[0],
            &parse(Format::Yaml, new.as_bytes()).unwrap()[0],
        );
        let proven = changed_documents(old.as_bytes(), new.as_bytes(), &b.item_lines)?;
        let items = |d: &crate::documents::Document| {
            crate::documents::list_items(&d.value)
                .unwrap()
                .unwrap()
                .to_vec()
        };
        let identity = |v: &Value| {
            (
                v["apiVersion"].clone(),
                v["kind"].clone(),
                v["metadata"]["name"].clone(),
                v["metadata"]["namespace"].clone(),
            )
        };
        let (x, y) = (items(a), items(b));
        let mut expected = Vec::new();
        for item in &y {
            match x.iter().position(|o| identity(o) == identity(item)) {
                Some(at) => expected.push((Some(a.item_lines[at]), &x[at] != item)),
                None => expected.push((None, false)),
            }
        }
        // Every old item is still there: the proof never hides a removal.
        assert_eq!(
            expected.iter().filter(|(lines, _)| lines.is_some()).count(),
            x.len(),
            "{old}\n=>\n{new}"
        );
        let got: Vec<_> = proven
            .old_lines
            .iter()
            .copied()
            .zip(proven.modified.iter().copied())
            .collect();
        let want: Vec<_> = expected
            .iter()
            .map(|(lines, m)| (*lines, lines.is_some() && *m))
            .collect();
        assert_eq!(got, want, "{old}\n=>\n{new}");
        Some(
            expected
                .iter()
                .map(|(lines, m)| (lines.is_none(), *m))
                .collect(),
        )
    }

    /// Items added to a list document (a dashboard added to a `ConfigMapList`), alone or with
    /// others modified; an item removed or renamed stays with the parser.
    #[test]
    fn list_items_added_are_proven_by_their_text() {
        let item = |name: &str, data: &str| {
            format!(
                "- apiVersion: v1\n  data:\n    {name}.json: |-\n      {data}\n  kind: ConfigMap\n  metadata:\n    name: {name}\n"
            )
        };
        let list = |items: &[String]| {
            format!(
                "apiVersion: v1\nitems:\n{}kind: ConfigMapList\n",
                items.concat()
            )
        };
        let (a, b, c, d) = (
            item("a", "{}"),
            item("b", "[1]"),
            item("c", "{\"x\": 1}"),
            item("d", "2"),
        );
        let old = list(&[a.clone(), c.clone()]);
        // Added in the middle, at the end, at the start.
        assert_eq!(
            check_list(&old, &list(&[a.clone(), b.clone(), c.clone()])),
            Some(vec![(false, false), (true, false), (false, false)])
        );
        assert_eq!(
            check_list(&old, &list(&[a.clone(), c.clone(), d.clone()])),
            Some(vec![(false, false), (false, false), (true, false)])
        );
        assert_eq!(
            check_list(&old, &list(&[b.clone(), a.clone(), c.clone()])),
            Some(vec![(true, false), (false, false), (false, false)])
        );
        // Added, and another modified.
        let c2 = item("c", "{\"x\": 2}");
        assert_eq!(
            check_list(&old, &list(&[a.clone(), b.clone(), c2.clone()])),
            Some(vec![(false, false), (true, false), (false, true)])
        );
        // Modified in a way that parses the same: a comment, a key written another way.
        let a2 = a.replace("  kind: ConfigMap\n", "  # the kind\n  kind: ConfigMap\n");
        assert_eq!(
            check_list(&old, &list(&[a2, b.clone(), c.clone()])),
            Some(vec![(false, false), (true, false), (false, false)])
        );
        // Removed, renamed, or the text around the items changed: not proven.
        for new in [
            list(std::slice::from_ref(&a)),
            list(&[a.clone(), item("e", "{\"x\": 1}")]),
            list(&[a.clone(), b.clone(), c.clone()]).replace("kind: ConfigMapList", "kind: List"),
            format!(
                "{}---\n{}",
                list(&[a.clone(), b.clone(), c.clone()]),
                list(std::slice::from_ref(&d))
            ),
        ] {
            let docs = &parse(Format::Yaml, new.as_bytes()).unwrap()[0].item_lines;
            assert_eq!(
                changed_documents(old.as_bytes(), new.as_bytes(), docs),
                None,
                "{new}"
            );
        }
    }

    #[test]
    fn split_lines_splits_as_split() {
        for text in ["", "\n", "a", "a\n", "a\nb", "\n\n b\n", "\u{e9}\n\u{e9}"] {
            let plain: Vec<&str> = text.split('\n').collect();
            assert_eq!(split_lines(text).collect::<Vec<_>>(), plain, "{text:?}");
        }
    }

    #[test]
    fn leading_spaces_counts_as_one_by_one() {
        for n in 0..40 {
            for tail in ["", "a", "\t", " \u{e9}", "\n  "] {
                let text = format!("{}{tail}", " ".repeat(n));
                let plain = text.bytes().take_while(|b| *b == b' ').count();
                assert_eq!(leading_spaces(text.as_bytes()), plain, "{text:?}");
            }
        }
    }

    /// An index as its parts, parents built: equal parts, equal indexes.
    fn parts(index: &LineIndex) -> (usize, Vec<u32>, Vec<u16>, Vec<u32>) {
        let parents = index.parents().0.to_vec();
        (
            index.len,
            index.starts.clone(),
            index.indents.clone(),
            parents,
        )
    }

    /// The index derived from a neighbouring version equals the one built from the text, for
    /// every replacement of a range of a few texts (line breaks, indentation, comments, tabs,
    /// multi-byte and invalid UTF-8, no final line break), both ways.
    #[test]
    fn derived_indexes_equal_built_ones() {
        let bases: [&[u8]; 4] = [
            b"a:\n  b: 1\n  # c\n\n  d:\n  - e\n",
            "k: \u{e9}t\u{e9}\n  - x\nz: 2".as_bytes(),
            b"\n\n  x: |\n    t\n",
            b"",
        ];
        let inserts: [&[u8]; 9] = [
            b"",
            b"x",
            b"\n",
            b"\n  y: 1\n",
            b"  ",
            b"#",
            b"\t",
            "\u{e9}".as_bytes(),
            b"\xff",
        ];
        let mut derived = 0;
        for base in bases {
            for i in 0..=base.len() {
                for j in i..=base.len() {
                    for insert in inserts {
                        let edited = [&base[..i], insert, &base[j..]].concat();
                        for (old, new) in [(base, &edited[..]), (&edited[..], base)] {
                            let Some(old_index) = LineIndex::new(old) else {
                                continue;
                            };
                            let built = LineIndex::new(new);
                            let from = LineIndex::derived((old, &old_index), new);
                            assert_eq!(
                                from.as_ref().map(parts),
                                built.as_ref().map(parts),
                                "{:?} => {:?}",
                                String::from_utf8_lossy(old),
                                String::from_utf8_lossy(new),
                            );
                            derived += usize::from(from.is_some());
                        }
                    }
                }
            }
        }
        assert!(derived > 10_000, "{derived}");
        // An index given with another text than its own is not used.
        let index = LineIndex::new(b"a: 1\n").unwrap();
        assert_eq!(
            LineIndex::derived((b"a: 12\n", &index), b"b:\n  c: 1\n").map(|i| parts(&i)),
            LineIndex::new(b"b:\n  c: 1\n").map(|i| parts(&i))
        );
        assert!(Lines::new(b"a: 12\n", &index).is_none());
    }

    /// Documents' spans read from the line index equal the parser's split, or are `None`.
    #[test]
    fn document_spans_equal_the_parser_split() {
        let mut read = 0;
        for text in [
            "a: 1\n",
            "a: 1\n---\nb: 2\n",
            "---\na: 1\n---\nb: 2\n  c: 3\n",
            "# head\n---\na: 1\n# tail\n--- # two\n\nb: |\n  ---\n  x\n",
            "a: 1\n---\n",
            "---\n---\na: 1\n",
            "--- !tag\na: 1\n",
            "a: 1\n...\n---\nb: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "----\na: 1\n",
            "",
        ] {
            let index = LineIndex::new(text.as_bytes()).unwrap();
            let lines = Lines::new(text.as_bytes(), &index).unwrap();
            let split: Option<Vec<(usize, usize)>> = crate::documents::split_documents(text)
                .iter()
                .map(|s| s.content)
                .collect();
            if let Some(spans) = lines.document_spans() {
                assert_eq!(Some(spans), split, "{text:?}");
                read += 1;
            }
        }
        assert!(read >= 6, "{read}");
    }

    #[test]
    fn identical_texts_change_nothing() {
        assert_eq!(check(CRD, CRD), Some(vec![false]));
    }
}
