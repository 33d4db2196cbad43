//! Where a version's lines start, how they are indented and which line each lies under.

use memchr::memchr_iter;

use super::entries::entry;

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
    pub(super) len: usize,
    pub(super) starts: Vec<u32>,
    /// Each line's indentation when it is content; [`NOT_CONTENT`] for a blank or comment
    /// line.
    pub(super) indents: Vec<u16>,
    /// Each content line's parent ([`NO_LINE`] for none): built when first needed.
    pub(super) parents: std::sync::OnceLock<Vec<u32>>,
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
        let prefix = crate::scalar_diff::common_prefix(old, text);
        if prefix == old.len() && prefix == text.len() {
            let mut same = old_index.clone();
            same.parents = std::sync::OnceLock::new();
            return Some(same);
        }
        // The lines before the one holding the first difference, line break included, are
        // the same in both texts.
        let first = old_index.starts.partition_point(|s| *s as usize <= prefix) - 1;
        let at = old_index.starts[first] as usize;
        let suffix = crate::scalar_diff::common_suffix(&old[at..], &text[at..]);
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
    pub(super) fn parents(&self) -> Parents<'_> {
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
pub(super) fn leading_spaces(text: &[u8]) -> usize {
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
pub(super) struct Parents<'a>(pub(super) &'a [u32]);

impl Parents<'_> {
    pub(super) fn of(&self, line: usize) -> Option<usize> {
        let parent = self.0[line];
        (parent != NO_LINE).then_some(parent as usize)
    }
}

/// A text with its [`LineIndex`].
pub(super) struct Lines<'a> {
    pub(super) text: &'a str,
    starts: &'a [u32],
    indents: &'a [u16],
}

impl<'a> Lines<'a> {
    pub(super) fn new(text: &'a [u8], index: &'a LineIndex) -> Option<Lines<'a>> {
        Lines::of_str(std::str::from_utf8(text).ok()?, index)
    }

    /// [`Lines::new`] of a text known to be UTF-8.
    pub(super) fn of_str(text: &'a str, index: &'a LineIndex) -> Option<Lines<'a>> {
        if index.len != text.len() {
            return None;
        }
        Some(Lines {
            text,
            starts: &index.starts,
            indents: &index.indents,
        })
    }

    pub(super) fn count(&self) -> usize {
        self.starts.len()
    }

    /// Line `i`'s indentation when it is content (not blank, not a comment).
    pub(super) fn indent(&self, i: usize) -> Option<usize> {
        let at = self.indents[i];
        (at != NOT_CONTENT).then_some(at as usize)
    }

    /// The first and last content line (from 1) of each document, as the parser splits
    /// them (`documents::split_documents`); `None` for anything but documents separated by
    /// bare `---` lines (a comment after one allowed): content on a `---` line, `...`, a
    /// directive, an empty document.
    pub(super) fn document_spans(&self) -> Option<Vec<(usize, usize)>> {
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
    pub(super) fn start(&self, i: usize) -> usize {
        self.starts.get(i).map_or(self.text.len(), |s| *s as usize)
    }

    /// The text of lines `range`, line breaks included.
    pub(super) fn slice(&self, range: std::ops::Range<usize>) -> &'a str {
        &self.text[self.start(range.start)..self.start(range.end)]
    }

    /// Line `i` without its line break.
    pub(super) fn line(&self, i: usize) -> &'a str {
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.text.len(), |next| *next as usize - 1);
        let line = &self.text[self.start(i)..end];
        line.strip_suffix('\r').unwrap_or(line)
    }

    /// The line holding byte `at`.
    pub(super) fn line_of(&self, at: usize) -> usize {
        self.starts.partition_point(|s| *s as usize <= at) - 1
    }

    /// The last content line before line `i`.
    pub(super) fn content_before(&self, i: usize) -> Option<usize> {
        (0..i).rev().find(|line| self.indent(*line).is_some())
    }

    /// When the first content line at or after line `i` here, and at or after `j` in
    /// `other`, is each indented more than 0 or a sequence item (`- `), the top-level `key:`
    /// of the indentless sequence those items are in: the nearest content line before `i`
    /// at the top level that is no item, when it is a key without a value. `None` otherwise
    /// (a difference at the top level proper).
    pub(super) fn indentless_sequence_key(
        &self,
        i: usize,
        other: &Lines<'_>,
        j: usize,
    ) -> Option<usize> {
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
    pub(super) fn first_content(&self, i: usize) -> Option<usize> {
        (i.min(self.count())..self.count()).find_map(|l| self.indent(l))
    }

    /// The header of the node that content line `line` lies in: the line itself when each
    /// line above it (its parent, and so on to the top level) opens a block collection —
    /// `key:`, `-`, or `- key: value` whose mapping goes on at the line below's indentation;
    /// else the topmost line that starts a scalar the lines below it continue (a block
    /// scalar's `key: |`, a multi-line plain or quoted scalar's first line).
    pub(super) fn node_of(&self, parents: Parents<'_>, mut line: usize) -> Option<usize> {
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
    pub(super) fn node_end(&self, header: usize, indent: usize, compact: bool) -> usize {
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
pub(super) fn is_item(body: &str) -> bool {
    body == "-" || body.starts_with("- ")
}
