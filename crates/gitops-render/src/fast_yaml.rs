//! A fast path for the YAML manifests are written in: parsing is most of the time a cold
//! render or `diff --from` takes (serde-saphyr reads about 40 MB/s; kube-prometheus'
//! `manifests/` is 5.5 MB, 99% of it CRDs).
//!
//! [`parse`] answers only for a document within a subset whose meaning it knows exactly, and
//! then with the value serde-saphyr gives for it ([`crate::documents::parse_yaml_plain`], the
//! plain way, which the caller uses for everything else):
//! - a block mapping at the top, block mappings and block sequences below it (a sequence may
//!   sit at its key's indentation; `- key: value` entries);
//! - single-line plain scalars: strings that start with a letter, `_` or `/` and are none of
//!   YAML's special words, decimal integers and quantities (`100m`, `1Gi`); any other plain
//!   scalar is given to serde-saphyr alone, so its type is serde-saphyr's;
//! - single-line single- and double-quoted scalars (every YAML escape);
//! - `|` and `|-` literal block scalars;
//! - `[]`, `{}`, comments, blank lines and a `---` line.
//!
//! Anything else gives `None`: anchors, aliases, tags, directives, flow collections with
//! content, folded or multi-line scalars, `|+`, indentation indicators, complex or non-string
//! keys, duplicate keys, tabs, carriage returns, characters YAML does not allow, and any
//! error. Equality with serde-saphyr is tested on generated documents and on every YAML
//! document of the corpus (`tests/corpus.rs`).

use serde_json::{Map, Value};

/// Nesting deeper than this is left to serde-saphyr (it bounds depth too).
const MAX_DEPTH: usize = 100;

/// The value of one YAML document, when it is within the subset this module knows; `None`
/// otherwise (the caller then parses it with serde-saphyr).
pub(crate) fn parse(text: &str) -> Option<Value> {
    if !allowed_chars(text) {
        return None;
    }
    // A final line break ends the last line; it does not start another.
    let body = text.strip_suffix('\n')?;
    // Sized once (a vectorized count): collecting a 40,000-line dashboard grew and copied
    // the vector a dozen times.
    let mut lines: Vec<Line<'_>> =
        Vec::with_capacity(memchr::memchr_iter(b'\n', body.as_bytes()).count() + 1);
    lines.extend(crate::documents::lines(body).map(Line::new));
    let mut parser = Parser {
        lines,
        pos: 0,
        depth: 0,
        entries: Vec::new(),
        items: Vec::new(),
    };
    parser.skip_blank();
    let first = parser.current()?;
    if first.indent == 0 && first.text.starts_with("---") {
        let rest = &first.text[3..];
        if !(rest.is_empty() || is_comment_after(rest)) {
            return None;
        }
        parser.pos += 1;
        parser.skip_blank();
    }
    let top = parser.current()?;
    split_entry(top.text)??;
    let value = parser.mapping(top.indent)?;
    parser.skip_blank();
    (parser.pos == parser.lines.len()).then_some(value)
}

/// Only line feeds, printable ASCII and the non-ASCII characters YAML allows in content: no
/// C1 controls (U+0080-U+009F), line or paragraph separators (U+2028, U+2029), byte-order
/// marks (U+FEFF) or U+FFFE and U+FFFF. One pass over the UTF-8 bytes.
fn allowed_chars(text: &str) -> bool {
    let bytes = text.as_bytes();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let plain = |b: u8| b == b'\n' || (0x20..=0x7e).contains(&b);
    let mut i = 0;
    while i < bytes.len() {
        // 32 bytes at a time while they are all plain (a loop without an early exit, which
        // the compiler vectorizes): most manifests hold nothing else.
        if let Some(chunk) = bytes.get(i..i + 32)
            && chunk.iter().fold(true, |all, &b| all & plain(b))
        {
            i += 32;
            continue;
        }
        let allowed = match bytes[i] {
            b'\n' | 0x20..=0x7e => true,
            0xc2 => !(0x80..=0x9f).contains(&at(i + 1)),
            0xe2 => !(at(i + 1) == 0x80 && matches!(at(i + 2), 0xa8 | 0xa9)),
            0xef => !matches!((at(i + 1), at(i + 2)), (0xbb, 0xbf) | (0xbf, 0xbe | 0xbf)),
            0x80.. => true,
            _ => false,
        };
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

/// One line: its indentation (spaces) and what follows it.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// The whole line.
    raw: &'a str,
    indent: usize,
    /// The line after its indentation (for a `- key: value` entry, the text after the dash
    /// once its mapping is parsed).
    text: &'a str,
}

impl<'a> Line<'a> {
    fn new(raw: &'a str) -> Self {
        let indent = raw.bytes().take_while(|&b| b == b' ').count();
        Line {
            raw,
            indent,
            // Spaces are one byte: `indent` is a char boundary.
            text: &raw[indent..],
        }
    }

    fn is_blank(&self) -> bool {
        self.text.is_empty() || self.text.starts_with('#')
    }
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
    /// The entries of the mappings being read, innermost last: a mapping's are moved into
    /// one sized for them once it ends, instead of grown entry by entry (each growth
    /// reallocated its entries and rehashed its index; a CRD's schema is tens of thousands
    /// of small mappings).
    entries: Vec<(String, Value)>,
    /// The same for the items of the sequences being read.
    items: Vec<Value>,
}

impl<'a> Parser<'a> {
    fn current(&self) -> Option<Line<'a>> {
        self.lines.get(self.pos).copied()
    }

    /// Moves past blank and comment lines.
    fn skip_blank(&mut self) {
        while self.lines.get(self.pos).is_some_and(Line::is_blank) {
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block mapping whose keys are at column `n`, from the current line.
    fn mapping(&mut self, n: usize) -> Option<Value> {
        self.enter()?;
        let start = self.entries.len();
        loop {
            self.skip_blank();
            let Some(line) = self.current() else { break };
            if line.indent < n {
                break;
            }
            if line.indent > n {
                return None;
            }
            let (key, rest) = split_entry(line.text)??;
            self.pos += 1;
            let value = self.value(rest, n, true)?;
            self.entries.push((key, value));
        }
        let mut map = Map::with_capacity(self.entries.len() - start);
        for (key, value) in self.entries.drain(start..) {
            // A duplicate key: serde-saphyr's error.
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        self.depth -= 1;
        Some(Value::Object(map))
    }

    /// A block sequence whose dashes are at column `n`, from the current line.
    fn sequence(&mut self, n: usize) -> Option<Value> {
        self.enter()?;
        let start = self.items.len();
        loop {
            self.skip_blank();
            let Some(line) = self.current() else { break };
            if line.indent < n || (line.indent == n && !is_dash(line.text)) {
                // The end (a key at the same column: this sequence was its mapping's value).
                break;
            }
            if line.indent > n {
                return None;
            }
            let after = &line.text[1..];
            let content = after.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                self.pos += 1;
                let item = self.value("", n, false)?;
                self.items.push(item);
                continue;
            }
            if is_dash(content) {
                return None;
            }
            if split_entry(content)?.is_some() {
                // `- key: value`: a mapping at the column of its first key.
                let column = n + 1 + (after.len() - content.len());
                self.lines[self.pos] = Line {
                    raw: line.raw,
                    indent: column,
                    text: content,
                };
                let item = self.mapping(column)?;
                self.items.push(item);
            } else {
                self.pos += 1;
                let item = self.value(content, n, false)?;
                self.items.push(item);
            }
        }
        self.depth -= 1;
        Some(Value::Array(self.items.drain(start..).collect()))
    }

    /// The value after a key (`in_mapping`) or a dash at column `n`: `rest` is the text after
    /// the `:` or `-`, the value's lines follow.
    fn value(&mut self, rest: &'a str, n: usize, in_mapping: bool) -> Option<Value> {
        let rest = rest.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            self.skip_blank();
            return match self.current() {
                Some(next) if next.indent > n => self.block_node(next),
                Some(next) if in_mapping && next.indent == n && is_dash(next.text) => {
                    self.sequence(n)
                }
                _ => Some(Value::Null),
            };
        }
        let value = match rest.as_bytes()[0] {
            b'|' => return self.literal(rest, n),
            b'"' | b'\'' => {
                let (text, after) = quoted(rest)?;
                if !ends_line(after) {
                    return None;
                }
                Value::String(text)
            }
            _ => plain(rest)?,
        };
        // A more indented line would continue the scalar (or be an error).
        self.skip_blank();
        if self.current().is_some_and(|next| next.indent > n) {
            return None;
        }
        Some(value)
    }

    /// A mapping or sequence starting at `line` (the current line).
    fn block_node(&mut self, line: Line<'a>) -> Option<Value> {
        if is_dash(line.text) {
            self.sequence(line.indent)
        } else if split_entry(line.text)?.is_some() {
            self.mapping(line.indent)
        } else {
            None
        }
    }

    /// A `|` or `|-` literal block scalar whose header is `header`, inside a node at column
    /// `n`: its lines are those from the current one indented as its first non-empty line,
    /// which must be indented more than `n`.
    fn literal(&mut self, header: &str, n: usize) -> Option<Value> {
        let after = &header[1..];
        let (strip, after) = match after.strip_prefix('-') {
            Some(after) => (true, after),
            None => (false, after),
        };
        if !ends_line(after) {
            return None;
        }
        let lines = &self.lines[self.pos..];
        let first = lines
            .iter()
            .position(|l| !l.raw.bytes().all(|b| b == b' '))?;
        let m = lines[first].indent;
        if m <= n || lines[..first].iter().any(|l| l.raw.len() > m) {
            return None;
        }
        let mut out = String::new();
        // The length of `out` after its last content line's line break.
        let mut content_end = 0;
        let mut used = 0;
        for line in lines {
            if line.raw.bytes().all(|b| b == b' ') {
                if line.raw.len() > m {
                    return None;
                }
                out.push('\n');
            } else if line.indent >= m {
                out.push_str(&line.raw[m..]);
                out.push('\n');
                content_end = out.len();
            } else {
                break;
            }
            used += 1;
        }
        if self.pos + used == self.lines.len() {
            // The scalar runs to the end of the document: left to serde-saphyr.
            return None;
        }
        self.pos += used;
        out.truncate(content_end - usize::from(strip));
        Some(Value::String(out))
    }
}

/// `- ` or a lone `-`: a block sequence entry.
fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Nothing but spaces, or spaces and a comment: the rest of a line after a value or header.
fn ends_line(rest: &str) -> bool {
    rest.trim_start_matches(' ').is_empty() || is_comment_after(rest)
}

/// Spaces, then a comment: what may follow a value on its line.
fn is_comment_after(rest: &str) -> bool {
    rest.starts_with(' ') && rest.trim_start_matches(' ').starts_with('#')
}

/// A mapping entry `key: rest` (`rest` after the colon); `Some(None)` for a line that is not
/// one; `None` for one outside the subset (a complex, non-string or commented key).
fn split_entry(text: &str) -> Option<Option<(String, &str)>> {
    match text.as_bytes().first()? {
        b'"' | b'\'' => {
            let (key, after) = quoted(text)?;
            match after.strip_prefix(':') {
                Some(rest) if rest.is_empty() || rest.starts_with(' ') => Some(Some((key, rest))),
                Some(_) => None,
                None => Some(None),
            }
        }
        _ => {
            let bytes = text.as_bytes();
            let colon = (0..bytes.len())
                .find(|&i| bytes[i] == b':' && bytes.get(i + 1).is_none_or(|next| *next == b' '));
            let Some(at) = colon else {
                return Some(None);
            };
            let key = &text[..at];
            let first = key.as_bytes().first()?;
            if !(first.is_ascii_alphabetic() || *first == b'_')
                || key.ends_with(' ')
                // `contains(" #")`, bytewise: the substring search's set-up was a call per key.
                || key.as_bytes().windows(2).any(|pair| pair == b" #")
                || key.len() > 1024
                || special_word(key)
            {
                return None;
            }
            Some(Some((key.to_owned(), &text[at + 1..])))
        }
    }
}

/// Words YAML 1.1 or 1.2 (or a float parser) may read as null, a boolean or a number.
fn special_word(text: &str) -> bool {
    const WORDS: [&str; 13] = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "inf", "infinity", "nan", "~",
    ];
    text.len() <= 8 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(text))
}

/// A single-line quoted scalar at the start of `text` and the text after its closing quote;
/// `None` when it does not close on the line, or for an escape YAML does not have.
fn quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.as_bytes()[0];
    let mut out = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if quote == b'\'' => {
                if text[1 + i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &text[1 + i + 1..]));
                }
            }
            '"' if quote == b'"' => return Some((out, &text[1 + i + 1..])),
            '\\' if quote == b'"' => {
                let (_, e) = chars.next()?;
                let mut hex = |digits: usize| -> Option<char> {
                    let mut code = 0u32;
                    for _ in 0..digits {
                        code = code * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    char::from_u32(code)
                };
                out.push(match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(2)?,
                    'u' => hex(4)?,
                    'U' => hex(8)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// A single-line plain scalar (`text` up to a comment) and its value.
fn plain(text: &str) -> Option<Value> {
    // One pass: the end (a comment), and whether a `:` ends a key (an error here).
    let mut end = text.len();
    let mut key_colon = false;
    let all = text.as_bytes();
    for (i, &b) in all.iter().enumerate() {
        if b == b'#' && i > 0 && all[i - 1] == b' ' {
            end = i - 1;
            break;
        }
        key_colon |= b == b':' && all.get(i + 1).is_none_or(|next| *next == b' ');
    }
    if key_colon {
        return None;
    }
    let text = text[..end].trim_end_matches(' ');
    let bytes = text.as_bytes();
    let first = *bytes.first()?;
    match first {
        b'[' | b'{' => {
            return match text {
                "[]" => Some(Value::Array(Vec::new())),
                "{}" => Some(Value::Object(Map::new())),
                _ => None,
            };
        }
        b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'|' | b'>' | b'\'' | b'"' | b'#' | b','
        | b']' | b'}' => return None,
        b'-' | b'?' | b':' if bytes.get(1).is_none_or(|b| *b == b' ') => return None,
        _ => {}
    }
    if text.starts_with("---") || text.starts_with("...") {
        return None;
    }
    if (first.is_ascii_alphabetic() || first == b'_' || first == b'/') && !special_word(text) {
        return Some(Value::String(text.to_owned()));
    }
    if bytes.iter().all(u8::is_ascii_digit) && (text == "0" || (first != b'0' && text.len() <= 18))
    {
        return text.parse::<i64>().ok().map(Value::from);
    }
    // A quantity or duration (`100m`, `1Gi`, `30s`): a digit, then a letter no number has
    // (not a hex digit, `x`, `o`, `e` or `.inf`-like), and no `:` (YAML 1.1 sexagesimals).
    if first.is_ascii_digit()
        && !text.contains(':')
        && bytes
            .iter()
            .any(|b| matches!(b.to_ascii_lowercase(), b'g'..=b'n' | b'p'..=b'w' | b'y' | b'z'))
    {
        return Some(Value::String(text.to_owned()));
    }
    // Anything else is typed by serde-saphyr, as the scalar alone.
    match serde_saphyr::from_str_with_options::<Value>(text, crate::documents::yaml_options()) {
        Ok(value @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))) => {
            Some(value)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::documents::{parse_yaml_fast, parse_yaml_plain};

    /// `text` is within the subset and parses to serde-saphyr's value.
    #[track_caller]
    fn taken(text: &str) {
        let fast = parse_yaml_fast(text).unwrap_or_else(|| panic!("not taken:\n{text}"));
        let plain = parse_yaml_plain(text)
            .unwrap_or_else(|e| panic!("serde-saphyr refuses {text:?}: {e:?}"))
            .expect("a document");
        assert_eq!(fast, plain, "for:\n{text}");
    }

    /// `text` is left to serde-saphyr.
    #[track_caller]
    fn refused(text: &str) {
        assert_eq!(parse(text), None, "taken:\n{text}");
    }

    #[test]
    fn manifests_parse_as_serde_saphyr_parses_them() {
        taken(
            "---\n# a comment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  \
             labels:\n    app.kubernetes.io/name: web # trailing comment\n    empty:\n  \
             annotations: {}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      \
             - name: web\n        image: \"nginx:1.25\"\n        args: []\n        ports:\n        \
             - containerPort: 8080\n          protocol: TCP\n        resources:\n          limits:\n            \
             cpu: 100m\n            memory: 1Gi\n      -   name: side\n          command:\n          \
             - sh\n          - -c\n          - 'echo ''hi'''\n",
        );
        // Every YAML escape in double quotes.
        taken(
            "k: \"a\\tb\\n\\\\ \\\" \\/ \\x41 \\u00e9 \\U0001F600 \\0 \\a \\b \\e \\f \\v \\N \\_ \\L \\P \\ x\"\n",
        );
        // Literal block scalars: clip and strip, inner blank lines, `#` as content, deeper lines.
        taken(
            "a: |\n  line one\n\n  # not a comment\n    deeper\n\n\nb: |-\n  x\n  y\n\nc:\n- |\n  in a list\n- x\n",
        );
        taken("d:\n  e: |-\n    four\n      six\n  f: 1\n");
        // Sequences at the key's column and indented; null entries; nested mappings.
        taken("a:\n- 1\n-\n- b: 2\n  c:\n  - 3\n  d:\n    e: f\nz:\n  - x\n  -\n    w: 1\n");
        // Scalars typed by serde-saphyr: numbers, booleans, nulls, versions, dates, octal.
        taken(
            "ka: 1.0\nkb: 1e3\nkc: true\nkd: yes\nke: ~\nkf: null\nkg: 0.93.0\nkh: 2024-01-01\nki: 017\n\
             j: 0o17\nkk: 0x1F\nkl: -1\nkm: +2\nkq: 1_000\nkr: 12:30\n\
             s: 99999999999999999999\nkt: 007\nku: 3.14\nkv: No\nkw: Off\nkx: 1.5Gi\nky: 30s\n",
        );
        taken("k: 'single ''quoted'' : # not a comment'\nl: \"double: # no\"\n'q': 1\n\"r\": 2\n");
        taken("jsonPath: .status.conditions[?(@.type == 'Ready')].status\nurl: http://a:80/b\n");
        taken("k1: a:b\nk2: foo#bar\nk3: -foo\nk4: ?x\nk5: :x\nk6: x-[y]{z},w\nk7: é ü 中文 😀\n");
    }

    #[test]
    fn what_it_does_not_know_is_left_to_serde_saphyr() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: [1, 2]\n",
            "a: {b: 1}\n",
            "a: >\n  folded\n",
            "a: |+\n  keep\n\nb: 1\n",
            "a: |2\n   indented\n",
            "a: plain\n  continued\n",
            "a: \"multi\n  line\"\n",
            "a: 'multi\n  line'\n",
            "? complex\n: key\n",
            "a: 1\na: 2\n",
            "1: one\n",
            "true: yes\n",
            "a:\tb\n",
            "a: b\r\n",
            "a: b: c\n",
            "a: - b\n",
            "- a\n- b\n",
            "plain scalar\n",
            "a: 1\n...\n",
            "--- x\n",
            "a: |\n  runs to the end",
            "a: x\n",
            "a: \"\\q\"\n",
            "a: .inf\n",
            "a: \"x\" \u{a0}\n",
            "a: |- \u{3000}\n  x\nb: 1\n",
            "a: \"\\ud800\"\n",
            "a: |\n\n     \n  x\nb: 1\n",
            "a:\n  - - nested\n",
            "a: \u{85}\n",
            "a: \u{feff}\n",
            "<<: {}\n",
            "a:\n b: 1\n  c: 2\n",
            "",
            "# only a comment\n",
        ] {
            if text == "a: x\n" {
                // A control: the same shape with a plain value is taken.
                assert!(parse(text).is_some());
                continue;
            }
            refused(text);
        }
    }

    use crate::test_rng::Rng;

    /// Scalars of every type and quoting, block scalar headers among them.
    const SCALARS: &[&str] = &[
        "web",
        "TCP",
        "true",
        "False",
        "yes",
        "no",
        "on",
        "Off",
        "y",
        "N",
        "null",
        "~",
        "NULL",
        "0",
        "1",
        "-1",
        "+1",
        "007",
        "0o17",
        "0x1f",
        "1e3",
        "1.5",
        ".5",
        "1.",
        "inf",
        "nan",
        "Infinity",
        "100m",
        "1Gi",
        "30s",
        "1h30m",
        "12:30",
        "2024-01-01",
        "2024-01-01T10:00:00Z",
        "0.93.0",
        "v1.2",
        "a:b",
        "a#b",
        "http://x:80",
        "-x",
        "?x",
        ":x",
        "x y z",
        "$ref",
        "'q'",
        "'it''s'",
        "\"d\\\"q\"",
        "\"\\u00e9\\n\"",
        "[]",
        "{}",
        "é",
        "a, b",
        "x # c",
        "1_0",
        "0b11",
        "1e",
        "e1",
        "99999999999999999999",
        "18446744073709551615",
        "-0",
        "0.0",
        "1.0e+3",
        "Yes",
        "TRUE",
        "nUll",
        "_x",
        "/path",
        "x\\y",
        "|",
        "|-",
    ];

    /// What the subset leaves out (picked now and then).
    const ODD_SCALARS: &[&str] = &[
        ".inf", "-.inf", ".nan", "@at", "`tick`", "[a]", "{a: 1}", "&a x", "*a", "!t x", "- x",
        "x: y", "'", "\"", "#c", ">", "|+", "|2",
    ];

    const KEYS: &[&str] = &[
        "name",
        "kind",
        "a",
        "x-y",
        "app.kubernetes.io/name",
        "_k",
        "k k",
    ];

    const ODD_KEYS: &[&str] = &["on", "true", "1", "'q'", "\"d\"", "$k", "name", "y"];

    fn node(rng: &mut Rng, out: &mut String, indent: usize, depth: usize) {
        let pad = " ".repeat(indent);
        let entries = 1 + rng.next() % 4;
        let mut used = Vec::new();
        for entry in 0..entries {
            if rng.chance(10) {
                out.push_str(&pad);
                out.push_str("# comment\n");
            }
            if rng.chance(5) {
                out.push('\n');
            }
            let keys = if rng.chance(95) { KEYS } else { ODD_KEYS };
            let mut key = rng.pick(keys).to_owned();
            // Mostly distinct keys (a duplicate is an error).
            if used.contains(&key) && rng.chance(95) {
                key = format!("{key}{entry}");
            }
            used.push(key.clone());
            out.push_str(&format!("{pad}{key}:"));
            let shape = if depth >= 4 { 0 } else { rng.next() % 6 };
            match shape {
                0 | 1 => {
                    let scalars = if rng.chance(97) { SCALARS } else { ODD_SCALARS };
                    let value = rng.pick(scalars);
                    out.push_str(&format!(" {value}"));
                    if rng.chance(10) {
                        out.push_str(" # c");
                    }
                    out.push('\n');
                    if value.starts_with(['|', '>']) {
                        for line in ["  text", "", "    more", "  # in"] {
                            if rng.chance(70) {
                                out.push_str(&format!("{pad}{line}\n"));
                            }
                        }
                    }
                }
                2 => {
                    out.push('\n');
                    node(rng, out, indent + 2, depth + 1);
                }
                3 | 4 => {
                    out.push('\n');
                    let dash = if rng.chance(50) { indent } else { indent + 2 };
                    let items = 1 + rng.next() % 3;
                    for _ in 0..items {
                        let dpad = " ".repeat(dash);
                        match rng.next() % 4 {
                            0 => out.push_str(&format!("{dpad}- {}\n", rng.pick(SCALARS))),
                            1 => out.push_str(&format!("{dpad}-\n")),
                            _ => {
                                // `- key: value` then the mapping's other keys.
                                let mut inner = String::new();
                                node(rng, &mut inner, dash + 2, depth + 1);
                                let inner = inner.trim_start_matches(' ');
                                out.push_str(&format!("{dpad}- {inner}"));
                            }
                        }
                    }
                }
                _ => out.push_str(" |-\n  text\n"),
            }
        }
    }

    #[test]
    fn generated_documents_parse_as_serde_saphyr_parses_them() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut taken = 0;
        let runs = 20_000;
        for _ in 0..runs {
            let mut text = String::new();
            if rng.chance(20) {
                text.push_str("---\n");
            }
            node(&mut rng, &mut text, 0, 0);
            if rng.chance(80) {
                // A block scalar at the end of a document is left to serde-saphyr.
                text.push_str("last: x\n");
            }
            if let Some(fast) = parse_yaml_fast(&text) {
                taken += 1;
                let plain = parse_yaml_plain(&text);
                assert_eq!(
                    plain.as_ref().ok().and_then(Option::as_ref),
                    Some(&fast),
                    "for:\n{text}\nserde-saphyr: {plain:?}"
                );
            }
        }
        // The subset is most of what is generated, so the comparison is not vacuous.
        assert!(taken > runs / 4, "only {taken} of {runs} taken");
    }

    /// The character check, which skips plain ASCII 32 bytes at a time, finds a refused
    /// character (and lets an allowed one through) wherever it falls: inside a block, on a
    /// block's edge, split across two blocks, at the end.
    #[test]
    fn characters_are_checked_at_every_offset() {
        let refused = [
            "\u{85}", "\u{9f}", "\u{2028}", "\u{2029}", "\u{feff}", "\u{fffe}", "\t", "\r",
        ];
        let allowed = [
            "\u{a0}",
            "\u{e9}",
            "\u{2027}",
            "\u{4e2d}",
            "\u{fffd}",
            "\u{1f600}",
        ];
        for offset in 0..80 {
            for tail in [0, 1, 40] {
                let text = |c: &str| format!("{}{c}{}", "a".repeat(offset), "b\n".repeat(tail));
                for c in refused {
                    assert!(
                        !super::allowed_chars(&text(c)),
                        "{c:?} at {offset}, tail {tail}"
                    );
                }
                for c in allowed {
                    assert!(
                        super::allowed_chars(&text(c)),
                        "{c:?} at {offset}, tail {tail}"
                    );
                }
            }
        }
    }
}
