//! A block mapping node's entries, each plain key with its text, read from the lines alone.

use serde_json::Value;

use super::line_index::{Lines, is_item};
use crate::scalar_diff::quick_value;

/// An entry being read: its key, its first line's text when not the file's (`- key`
/// written without its `- `), where its lines start, and whether it opens a block (a
/// `key:` without a value, which a compact sequence may follow).
type Current = (String, Option<String>, usize, bool);

/// The block mapping entries on lines `range` whose keys are at `column`, `current` the
/// entry already begun on the line before; `None` when the lines are no such entries.
pub(super) fn entries_at<'a>(
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
pub(super) type Entries<'a> = std::collections::BTreeMap<String, std::borrow::Cow<'a, str>>;

/// The entries of the block mapping that node `range` (headed by a line indented `indent`)
/// holds, each key (plain text read as itself) with the entry's text, indented as in the
/// file; `None` when the node is not such a mapping: its header has a value on its line
/// (other than `- ` starting the first entry), an entry's key is not plain text, a key
/// repeats, or a block scalar's indentation is given explicitly (it counts from the column).
/// A compact sequence (`- ` items at the entries' column) belongs to the `key:` before it.
pub(super) fn mapping_entries<'a>(
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

/// A block mapping entry's plain key and the rest of the line after `:` (trimmed): `None`
/// when the text is no such entry (a quoted or complex key, a scalar).
pub(super) fn entry(body: &str) -> Option<(&str, &str)> {
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
