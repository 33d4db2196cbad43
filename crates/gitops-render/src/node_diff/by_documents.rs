//! The fallback for documents that gained or lost a top-level entry: compared entry by entry.

use super::ChangedDocuments;
use super::Spans;
use super::by_items::entries_of;
use super::by_nodes::IDENTITY_KEYS;
use super::compare::{entries_differ, node_differs};
use super::entries::{Entries, entries_at};
use super::line_index::Lines;

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
pub(super) fn metadata_entries(entries: &Entries<'_>) -> Option<Entries<'static>> {
    match entries.get("metadata") {
        Some(text) => entries_of(text),
        None => Some(Entries::new()),
    }
}

/// Each document of `new` compared with the document at the same place in `old` by its
/// top-level entries (each differing entry as a node of its own, [`node_differs`]), when
/// both versions hold as many documents, each a block mapping from its first content line,
/// and each keeps its identity: `apiVersion`, `kind` and `metadata`'s `name`, `namespace`
/// and `generateName` the same text. For what [`by_nodes`](super::by_nodes::by_nodes) leaves: a top-level entry added
/// or removed (a CRD's `status:` dropped by a newer generator). `None` otherwise; `docs`
/// must be the documents themselves (a list document's items are not).
pub(super) fn by_documents(
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
