//! The main proof: only the smallest nodes enclosing each difference are compared (module docs
//! of [`super`]).

use super::ChangedDocuments;
use super::compare::differ;
use super::entries::{entry, mapping_entries};
use super::line_index::{LineIndex, Lines, Parents};
use crate::scalar_diff::common_prefix;

/// Most differing nodes compared in one file; a file rewritten throughout is parsed whole.
const MAX_NODES: usize = 512;

/// The nodes of `new` that differ from `old` (module docs).
pub(super) fn by_nodes(
    old: &Lines<'_>,
    new: &Lines<'_>,
    old_index: &LineIndex,
    docs: &[(usize, usize)],
) -> Option<ChangedDocuments> {
    let mut walk = NodeWalk {
        old,
        new,
        parents: old_index.parents(),
        docs,
        modified: vec![false; docs.len()],
        runs: Vec::new(),
        regions: Vec::new(),
    };
    let (mut o, mut n) = (0, 0);
    let mut nodes = 0;
    while let Some((s_old, s_new)) = walk.first_difference(o, n) {
        let header = walk.header(s_old, s_new)?;
        let node = walk.node_at((o, n), s_old, header)?;
        nodes += 1;
        if nodes > MAX_NODES {
            return None;
        }
        let doc = docs
            .iter()
            .position(|&(first, last)| (first..=last).contains(&(node.header_new + 1)))?;
        let guard = walk.identity_guard(&node, doc)?;
        walk.compare(&node, doc, guard)?;
        walk.regions.retain(|&(ho, ..)| ho < node.header_old);
        walk.regions
            .push((node.header_old, node.end_old, node.header_new, node.end_new));
        (o, n) = (node.end_old, node.end_new);
    }
    walk.runs.push((o, n, old.count() - o));
    let old_lines = walk.old_lines()?;
    Some(ChangedDocuments {
        modified: walk.modified,
        old_lines,
    })
}

/// Keys of `metadata` that make a resource's identity.
pub(super) const IDENTITY_KEYS: [&str; 3] = ["name", "namespace", "generateName"];

/// Keys of a resource that make its identity.
const RESOURCE_KEYS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// What [`by_nodes`] keeps while it goes from one differing node to the next.
struct NodeWalk<'l> {
    old: &'l Lines<'l>,
    new: &'l Lines<'l>,
    parents: Parents<'l>,
    docs: &'l [(usize, usize)],
    /// For each document, whether it is proven changed.
    modified: Vec<bool>,
    /// Runs of lines the same on both sides, as (old start, new start, length): where a
    /// header found before the current position is on the new side.
    runs: Vec<(usize, usize, usize)>,
    /// The nodes compared, as (old header, old end, new header, new end).
    regions: Vec<(usize, usize, usize, usize)>,
}

/// A differing node located on both sides: its header line and the line after it.
struct Node<'l> {
    header_old: usize,
    end_old: usize,
    header_new: usize,
    end_new: usize,
    /// The header's indentation.
    indent: usize,
    /// The header's content, after its indentation.
    body: &'l str,
}

impl<'l> NodeWalk<'l> {
    /// The line of the first difference from lines `o` and `n` on, on each side (the same
    /// number of lines from both); `None` when the rest of the texts is the same.
    fn first_difference(&self, o: usize, n: usize) -> Option<(usize, usize)> {
        let (old, new) = (self.old, self.new);
        let (ob, nb) = (old.start(o), new.start(n));
        let common = common_prefix(&old.text.as_bytes()[ob..], &new.text.as_bytes()[nb..]);
        if ob + common == old.text.len() && nb + common == new.text.len() {
            return None;
        }
        // (At or after `o`: the old side may have no line left.)
        let s_old = old.line_of(ob + common).max(o);
        Some((s_old, n + (s_old - o)))
    }

    /// The header of the node enclosing the difference at `s_old` (old side) and `s_new`:
    /// the nearest content line before, indented less than the first content line at or
    /// after the difference on either side.
    fn header(&self, s_old: usize, s_new: usize) -> Option<usize> {
        let (old, new) = (self.old, self.new);
        let threshold = match (old.first_content(s_old), new.first_content(s_new)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        // The lines between a line and its parent are indented no less than it. At the top
        // level, an item of an indentless sequence (`rules:` then `- apiGroups:`, as kubectl
        // and kustomize write) lies under the `key:` that opens it.
        if threshold == 0 {
            return old.indentless_sequence_key(s_old, new, s_new);
        }
        let mut header = old.content_before(s_old)?;
        while old.indent(header)? >= threshold {
            header = self.parents.of(header)?;
        }
        Some(header)
    }

    /// The node headed at (or, inside a scalar, above) `header` on both sides, the run of
    /// same lines before it recorded from `(o, n)` to the difference at `s_old`; `None` for
    /// a top-level line that is no entry.
    fn node_at(&mut self, (o, n): (usize, usize), s_old: usize, header: usize) -> Option<Node<'l>> {
        let (old, new) = (self.old, self.new);
        // A line inside a block or multi-line scalar: the node is that scalar's entry.
        let header_old = old.node_of(self.parents, header)?;
        self.runs.push((o, n, s_old - o));
        let header_new = self.runs.iter().rev().find_map(|&(os, ns, len)| {
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
        self.runs.retain(|&(os, ..)| os < header_old);
        if let Some(last) = self.runs.last_mut() {
            last.2 = last.2.min(header_old - last.0);
        }
        Some(Node {
            header_old,
            end_old,
            header_new,
            end_new,
            indent,
            body,
        })
    }

    /// The keys whose text must stay the same for the node's resource (document `doc`, or an
    /// item of a list document) to keep its identity: none below its entries; `None` when
    /// the node is the document itself or an entry that makes its identity by its text alone.
    fn identity_guard(&self, node: &Node<'_>, doc: usize) -> Option<&'static [&'static str]> {
        let start = self.docs[doc].0 - 1;
        if node.header_new == start {
            // A document is no node; a list item is, while its identity stays the same text.
            if !node.body.starts_with("- ") {
                return None;
            }
            return Some(&RESOURCE_KEYS);
        }
        let entry_of_resource = match self.parents.of(node.header_old) {
            None => true,
            Some(parent) => self.new_line(parent)? == start,
        };
        Some(match entry(node.body).map(|(key, _)| key) {
            Some("metadata") if entry_of_resource => &IDENTITY_KEYS,
            Some("apiVersion" | "kind" | "items") if entry_of_resource => return None,
            _ => &[],
        })
    }

    /// Where old line `line` is on the new side, when it is in a run of same lines or heads
    /// a node compared.
    fn new_line(&self, line: usize) -> Option<usize> {
        self.runs
            .iter()
            .find(|&&(os, _, len)| (os..os + len).contains(&line))
            .map(|&(os, ns, _)| ns + (line - os))
            .or(self
                .regions
                .iter()
                .find(|&&(ho, ..)| ho == line)
                .map(|&(_, _, hn, _)| hn))
    }

    /// Compares the node's two versions into `modified[doc]`; `None` when not proven or when
    /// a `guard` key's text changed.
    fn compare(&mut self, node: &Node<'_>, doc: usize, guard: &[&str]) -> Option<()> {
        // A node of a document proven changed is only located, unless it must show that the
        // identity stayed.
        if self.modified[doc] && guard.is_empty() {
            return Some(());
        }
        let a = (self.old, node.header_old..node.end_old);
        let b = (self.new, node.header_new..node.end_new);
        let entries = (
            mapping_entries(a.0, a.1.clone(), node.indent),
            mapping_entries(b.0, b.1.clone(), node.indent),
        );
        // With `guard` keys (a resource's or its `metadata`'s identity), the node must be a
        // block mapping and those entries the same text.
        if !guard.is_empty() {
            let (Some(old), Some(new)) = &entries else {
                return None;
            };
            if guard.iter().any(|k| old.get(*k) != new.get(*k)) {
                return None;
            }
        }
        if !self.modified[doc] {
            self.modified[doc] = differ(entries, a, b)?;
        }
        Some(())
    }

    /// Each document's first and last content line (from 1) in the old version.
    fn old_lines(&self) -> Option<Vec<Option<(usize, usize)>>> {
        self.docs
            .iter()
            .map(|&(first, last)| {
                Some(Some((
                    self.old_line(first, false)?,
                    self.old_line(last, true)?,
                )))
            })
            .collect()
    }

    /// Where new line `new_line` (from 1), a document's first or `last` content line, is in
    /// the old version. The documents' boundaries are the same text: the same documents,
    /// shifted. A first line is in a run or heads a node; a last line may lie in a node (its
    /// last content line, then).
    fn old_line(&self, new_line: usize, last: bool) -> Option<usize> {
        let at = new_line - 1;
        if let Some(&(os, ns, _)) = self
            .runs
            .iter()
            .find(|&&(_, ns, len)| (ns..ns + len).contains(&at))
        {
            return Some(os + (at - ns) + 1);
        }
        let &(ho, eo, hn, _) = self
            .regions
            .iter()
            .find(|&&(_, _, hn, en)| (hn..en).contains(&at))?;
        if at == hn {
            Some(ho + 1)
        } else if last {
            (ho..eo)
                .rev()
                .find(|l| self.old.indent(*l).is_some())
                .map(|l| l + 1)
        } else {
            None
        }
    }
}
