//! The fallback for a list document: its items aligned with the old version's, by text and
//! then by identity.

use serde_json::Value;

use super::ChangedDocuments;
use super::Spans;
use super::by_documents::metadata_entries;
use super::compare::{may_anchor, node_differs, parsed};
use super::entries::{Entries, mapping_entries};
use super::line_index::{LineIndex, Lines};

/// Most items of a list document [`by_items`] aligns.
const MAX_ITEMS: usize = 4096;

/// The items of a list document (one document, its `items:` a block sequence, `docs` those
/// items) compared with the old version's items: the text around the sequence must be the
/// same; items of the same text are the same resources, unchanged; an old item whose text is
/// further on in `new` makes the new items before it added (a dashboard added to a
/// `ConfigMapList`); an old item facing a new one of other text is that resource modified
/// when both keep the same identity ([`identity`]), compared as nodes. `None` for
/// anything else: an item removed, an identity changed, no such list.
pub(super) fn by_items(
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

/// The entries of the block mapping a node's text holds ([`mapping_entries`]: under its
/// `key:` header, or an item's `- key: value` and the rest of its mapping), owned.
pub(super) fn entries_of(text: &str) -> Option<Entries<'static>> {
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
