//! Literal block scalar entries (`key: |`), compared line by line without building their values.

use memchr::memchr_iter;

use super::entries::entry;
use super::line_index::leading_spaces;

/// The plain key and the value of a node's text that is one literal block scalar entry —
/// `key: |`, `key: |-` or `key: |+` on its first line (no indentation indicator, tag, anchor
/// or comment), then its content lines — computed as YAML does (the content's indentation is
/// its first non-empty line's, removed from each line; empty lines kept; the final line
/// breaks chomped); `None` for anything else or anything unusual (a line of spaces longer
/// than the indentation, `\r`, a comment after the content, no content): the caller parses.
/// The plain way: [`Literal`] compares two without building their values.
#[cfg(test)]
pub(super) fn literal_block(text: &str) -> Option<(&str, String)> {
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
pub(super) struct Literal<'a> {
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
    pub(super) fn of(text: &'a str) -> Option<Literal<'a>> {
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
    pub(super) fn differs(&self, other: &Literal<'_>) -> bool {
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
pub(super) fn split_lines(text: &str) -> impl Iterator<Item = &str> {
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
