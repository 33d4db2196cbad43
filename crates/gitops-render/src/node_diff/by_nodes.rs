//! The main proof: only the smallest nodes enclosing each difference are compared (module docs
//! of [`super`]).

use super::ChangedDocuments;
use super::compare::differ;
use super::entries::{entry, mapping_entries};
use super::line_index::{LineIndex, Lines};
use crate::scalar_diff::common_prefix;

/// Most differing nodes compared in one file; a file rewritten throughout is parsed whole.
pub(super) const MAX_NODES: usize = 512;

/// The nodes of `new` that differ from `old` (module docs).
pub(super) fn by_nodes(
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
pub(super) const IDENTITY_KEYS: [&str; 3] = ["name", "namespace", "generateName"];

/// Keys of a resource that make its identity.
pub(super) const RESOURCE_KEYS: [&str; 3] = ["apiVersion", "kind", "metadata"];
