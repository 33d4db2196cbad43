//! Parsing one file into its documents with exact line ranges.
//!
//! YAML is split into documents at `---` / `...` marker lines first, then each document is parsed
//! on its own. Splitting by lines is exact, not a heuristic: YAML forbids a line starting with
//! `---` or `...` followed by a space or line end inside any node (`c-forbidden`), so such a
//! line always is a document boundary. Parsing per document keeps the document index of empty
//! and `null` documents, which serde-saphyr's multi-document API skips silently.

use serde_json::Value;

/// One non-empty document of a file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Document {
    /// Index of the document in the file, from 0; empty and `null` documents count.
    pub index: usize,
    /// First line of the document's content, from 1 (leading blank and comment lines and the
    /// `---` marker are not content).
    pub line: usize,
    /// Last line of the document's content, inclusive (trailing blank and comment lines are not).
    pub end_line: usize,
    /// The document as JSON.
    pub value: Value,
    /// For a list document ([`list_items`]) written as a block sequence, the first and last
    /// content line of each item, in order; empty when the lines are not known (flow style,
    /// JSON): the items then take the document's lines.
    pub item_lines: Vec<(usize, usize)>,
}

/// The items of a list document as kubectl expands it: any `kind` ending in `List` (`List`,
/// `RoleBindingList`, `ConfigMapList`, ...) with an `items` key. `None` for other documents;
/// `Some(Err(()))` when `items` is neither a sequence nor null.
pub fn list_items(value: &Value) -> Option<Result<&[Value], ()>> {
    let kind = value.get("kind").and_then(Value::as_str)?;
    if !kind.ends_with("List") {
        return None;
    }
    match value.get("items")? {
        Value::Array(items) => Some(Ok(items.as_slice())),
        Value::Null => Some(Ok(&[])),
        _ => Some(Err(())),
    }
}

/// A file that does not parse: where and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParseError {
    /// Line in the file, from 1, when known.
    pub line: Option<usize>,
    /// The parser's message, without position.
    pub message: String,
}

/// File formats the renderer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `*.yaml`, `*.yml`: multi-document YAML.
    Yaml,
    /// `*.json`: one JSON value.
    Json,
}

impl Format {
    /// The format of a file by its extension, `None` for files that are not manifests.
    pub fn of(path: &str) -> Option<Self> {
        let lower = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(Self::Yaml)
        } else if lower.ends_with(".json") {
            Some(Self::Json)
        } else {
            None
        }
    }
}

/// Parses file content in the given format. Empty and `null` documents are left out.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Vec<Document>, ParseError> {
    parse_with(format, bytes, None)
}

/// [`parse`], with the items of large list documents parsed one by one and kept in `items` by
/// their text: a later version of the file (a history walk reads hundreds) parses only the
/// items that changed. The answer is [`parse`]'s, always (see [`parse_list_by_items`]).
pub fn parse_with(
    format: Format,
    bytes: &[u8],
    items: Option<&ItemCache>,
) -> Result<Vec<Document>, ParseError> {
    parse_costed(format, bytes, items).0
}

/// [`parse_with`], and whether serde-saphyr read any of it: a document outside
/// [`crate::fast_yaml`]'s subset, a list parsed by items, or an error. Only such a file is
/// kept on disk ([`crate::RenderCache::on_disk`] says why).
pub(crate) fn parse_costed(
    format: Format,
    bytes: &[u8],
    items: Option<&ItemCache>,
) -> (Result<Vec<Document>, ParseError>, bool) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let error = ParseError {
                line: Some(
                    bytes[..e.valid_up_to()]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count()
                        + 1,
                ),
                message: "file is not valid UTF-8".to_owned(),
            };
            return (Err(error), true);
        }
    };
    // A byte-order mark is allowed at the start of a stream; it is not content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (parsed, slow) = match format {
        Format::Yaml => {
            let mut slow = false;
            (parse_yaml(text, items, &mut slow), slow)
        }
        Format::Json => (parse_json(text), false),
    };
    let slow = slow || parsed.is_err();
    (parsed, slow)
}

/// Options hardened for untrusted input: duplicate keys are errors (the default), and alias
/// expansion is bounded so a "billion laughs" document fails fast instead of eating memory.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: 10_000,
            max_anchors: 10_000,
            max_depth: 128,
            max_documents: 2,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 200_000,
            max_replay_stack_depth: 32,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        legacy_octal_numbers: true,
        with_snippet: false,
        emit_comments: false,
    }
}

/// Parses one YAML document's text; `None` for an empty or `null` document. Documents within
/// the subset [`crate::fast_yaml`] knows are read by it, the rest by serde-saphyr
/// ([`parse_yaml_plain`]); both give the same value.
pub(crate) fn parse_yaml_document(text: &str) -> Result<Option<Value>, ParseError> {
    parse_yaml_document_costed(text).0
}

/// [`parse_yaml_document`], and whether serde-saphyr read it (the fast path did not).
fn parse_yaml_document_costed(text: &str) -> (Result<Option<Value>, ParseError>, bool) {
    match parse_yaml_fast(text) {
        Some(value) => (Ok(Some(value)), false),
        None => (parse_yaml_plain(text), true),
    }
}

/// [`crate::fast_yaml`]'s value of one YAML document, `None` when the document is outside
/// its subset (or has no content).
pub fn parse_yaml_fast(text: &str) -> Option<Value> {
    let mut value = crate::fast_yaml::parse(text)?;
    integral_floats_to_ints(&mut value);
    Some(value)
}

/// The text of each document of a YAML stream (its `---` line included).
pub fn yaml_document_texts(text: &str) -> Vec<&str> {
    split_documents(text)
        .into_iter()
        .map(|segment| &text[segment.bytes])
        .collect()
}

/// [`yaml_document_texts`] by the plain way of splitting (every line classified in turn), for
/// the tests that hold the fast way to it.
pub fn yaml_document_texts_plain(text: &str) -> Vec<&str> {
    split_documents_plain(text)
        .into_iter()
        .map(|segment| &text[segment.bytes])
        .collect()
}

/// The plain way: one YAML document parsed by serde-saphyr; `None` for an empty or `null`
/// document.
pub fn parse_yaml_plain(text: &str) -> Result<Option<Value>, ParseError> {
    let value: Option<Value> =
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| yaml_error(&e))?;
    Ok(value.filter(|v| !v.is_null()).map(|mut v| {
        integral_floats_to_ints(&mut v);
        v
    }))
}

/// kubectl turns YAML into JSON through Go's float64, so `1.0` and `1e3` reach the API server as
/// `1` and `1000`; doing the same keeps such values from looking like drift.
fn integral_floats_to_ints(value: &mut Value) {
    // Beyond 2^53 a float no longer holds every integer exactly; leave those as they are.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= EXACT
            {
                // The guard above makes the cast exact.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_ints),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_ints),
        _ => {}
    }
}

/// A serde-saphyr error as a [`ParseError`] with the line of the input given to it.
pub fn yaml_error(error: &serde_saphyr::Error) -> ParseError {
    ParseError {
        line: error
            .location()
            .and_then(|l| usize::try_from(l.line()).ok())
            .filter(|l| *l > 0),
        message: strip_position(&error.to_string()),
    }
}

/// serde-saphyr ends messages with positions (and advice for its API users); we report
/// positions relative to the file and the advice means nothing to our users.
fn strip_position(message: &str) -> String {
    // serde_json's messages end the same way (" at line L column C").
    let message = message.trim();
    let message = message
        .find(" at line ")
        .map_or(message, |at| &message[..at]);
    message
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        .trim_end()
        .to_owned()
}

/// The documents of a YAML stream; `slow` is set when serde-saphyr read any of them
/// ([`parse_costed`]).
fn parse_yaml(
    text: &str,
    items: Option<&ItemCache>,
    slow: &mut bool,
) -> Result<Vec<Document>, ParseError> {
    let mut documents = Vec::new();
    for (index, segment) in split_documents(text).into_iter().enumerate() {
        let body = &text[segment.bytes.clone()];
        let by_items = items.and_then(|cache| parse_list_by_items(body, cache));
        let value = match by_items {
            Some(value) => {
                *slow = true;
                Ok(Some(value))
            }
            None => {
                let (value, plain) = parse_yaml_document_costed(body);
                // One without content costs nothing to read again.
                *slow |= plain && segment.content.is_some();
                value
            }
        }
        .map_err(|e| ParseError {
            line: Some(segment.first_line + e.line.unwrap_or(1) - 1),
            message: e.message,
        })?;
        if let (Some(value), Some((line, end_line))) = (value, segment.content) {
            let item_lines = match list_items(&value) {
                Some(Ok(items)) if !items.is_empty() => {
                    block_item_lines(body, segment.first_line, items.len())
                }
                _ => Vec::new(),
            };
            documents.push(Document {
                index,
                line,
                end_line,
                value,
                item_lines,
            });
        }
    }
    Ok(documents)
}

fn parse_json(text: &str) -> Result<Vec<Document>, ParseError> {
    let StrictJson(value) = serde_json::from_str(text).map_err(|e| ParseError {
        line: Some(e.line()).filter(|l| *l > 0),
        message: strip_position(&e.to_string()),
    })?;
    if value.is_null() {
        return Ok(Vec::new());
    }
    let mut value = value;
    integral_floats_to_ints(&mut value);
    let content: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i + 1)
        .collect();
    Ok(vec![Document {
        index: 0,
        line: content.first().copied().unwrap_or(1),
        end_line: content.last().copied().unwrap_or(1),
        value,
        item_lines: Vec::new(),
    }])
}

/// A JSON value that refuses duplicate object keys, as YAML parsing does (serde_json keeps the
/// last one silently, which would hide a mistake from the user).
struct StrictJson(Value);

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StrictJsonVisitor)
            .map(StrictJson)
    }
}

struct StrictJsonVisitor;

impl<'de> serde::de::Visitor<'de> for StrictJsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate mapping key: {key}"
                )));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The content lines of each entry of the document's top-level `items:` block sequence, read
/// from `body` (the document's text, whose first line is `first_line` of the file). Only when
/// exactly `expected` entries are found; empty otherwise (the caller then uses the document's
/// lines).
fn block_item_lines(body: &str, first_line: usize, expected: usize) -> Vec<(usize, usize)> {
    match block_items(body) {
        Some(items) if items.entries.len() == expected => items
            .entries
            .into_iter()
            .map(|(a, b)| (first_line + a, first_line + b))
            .collect(),
        _ => Vec::new(),
    }
}

/// The top-level `items:` block sequence of a document's text, by line index (from 0).
struct BlockItems {
    /// The `items:` line.
    key: usize,
    /// The column of the entries' dashes.
    dash: usize,
    /// First and last content line of each entry.
    entries: Vec<(usize, usize)>,
    /// The first line after the sequence (the next top-level key, or the end).
    end: usize,
}

/// Finds the entries of the top-level `items:` block sequence. Lines at the sequence's
/// indentation can only be its entries' `-` (a nested node, block scalar or continuation line
/// is indented more), so the entries are found by their dashes; each ends at its last content
/// line before the next entry or the sequence's end. `None` when `items:` is not a block
/// sequence at the top level.
fn block_items(body: &str) -> Option<BlockItems> {
    // `body.lines()`: no line after a final line break.
    let lines: Vec<&str> = lines_inclusive(body)
        .map(|l| strip_ascii_suffix(l, b'\n'))
        .map(|l| strip_ascii_suffix(l, b'\r'))
        .collect();
    let is_content = |l: &str| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    };
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let is_items_key = |l: &str| {
        l.strip_prefix("items:")
            .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#'))
    };
    let key = lines.iter().position(|l| is_items_key(l))?;
    let first = (key + 1..lines.len()).find(|&i| is_content(lines[i]))?;
    let dash = indent(lines[first]);
    let is_entry = |l: &str| {
        indent(l) == dash
            && l[dash..]
                .strip_prefix('-')
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    };
    if !is_entry(lines[first]) {
        return None;
    }
    let mut entries: Vec<(usize, usize)> = Vec::new();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate().skip(first) {
        if !is_content(line) {
            continue;
        }
        if is_entry(line) {
            entries.push((i, i));
        } else if indent(line) <= dash {
            end = i; // the next key of the document: the sequence has ended
            break;
        } else if let Some(last) = entries.last_mut() {
            last.1 = i;
        }
    }
    Some(BlockItems {
        key,
        dash,
        entries,
        end,
    })
}

/// Parsed list items by their exact text, shared across the versions of a file (and files).
/// Content-addressed: an entry never goes stale.
#[derive(Default)]
pub struct ItemCache {
    items: std::sync::Mutex<std::collections::HashMap<String, Value>>,
}

impl ItemCache {
    fn get(&self, text: &str) -> Option<Value> {
        let items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        items.get(text).cloned()
    }

    fn put(&self, text: &str, value: &Value) {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        items.insert(text.to_owned(), value.clone());
    }
}

/// Lists smaller than this many lines are parsed whole: splitting them saves nothing.
const ITEMS_MIN_LINES: usize = 200;

/// A large list document (`kind: ...List` with a top-level block sequence `items:`) parsed item
/// by item, each item's text looked up in `cache` first; the rest of the document (its other
/// keys, `items: []` in the sequence's place) is parsed on its own. `None` when that could give
/// another answer than parsing the document whole, which the caller then does: directives,
/// anchors, aliases or tags (they may reach across items), an item indented less than its
/// dash, anything that does not parse on its own, or not a list.
fn parse_list_by_items(body: &str, cache: &ItemCache) -> Option<Value> {
    if body.lines().count() < ITEMS_MIN_LINES
        || body.contains(['&', '*', '!', '%', '\t', '\r'])
        || !body.lines().any(|l| {
            l.strip_prefix("kind:")
                .is_some_and(|k| k.trim().trim_matches(['"', '\'']).ends_with("List"))
        })
    {
        return None;
    }
    let items = block_items(body)?;
    let lines: Vec<&str> = body.lines().collect();
    // The document without the sequence, `items: []` in its place.
    let mut rest = String::new();
    for line in &lines[..items.key] {
        rest.push_str(line);
        rest.push('\n');
    }
    rest.push_str("items: []\n");
    for line in &lines[items.end..] {
        rest.push_str(line);
        rest.push('\n');
    }
    let mut value = parse_yaml_document(&rest).ok()??;
    let mut parsed = Vec::with_capacity(items.entries.len());
    for (n, &(first, last)) in items.entries.iter().enumerate() {
        // An entry runs to the line before the next one (comments and blank lines included).
        let stop = items.entries.get(n + 1).map_or(last + 1, |next| next.0);
        let mut text = String::new();
        for line in &lines[first..stop.max(last + 1)] {
            let trimmed = line.trim_start_matches(' ');
            if line.len() - trimmed.len() >= items.dash {
                text.push_str(&line[items.dash..]);
            } else if !(trimmed.is_empty() || trimmed.starts_with('#')) {
                return None;
            }
            // A blank or comment line left of the dashes stays a blank line.
            text.push('\n');
        }
        let item = match cache.get(&text) {
            Some(item) => item,
            None => {
                let Ok(Some(Value::Array(mut one))) = parse_yaml_document(&text) else {
                    return None;
                };
                if one.len() != 1 {
                    return None;
                }
                let item = one.pop()?;
                cache.put(&text, &item);
                item
            }
        };
        parsed.push(item);
    }
    let map = value.as_object_mut()?;
    match map.get("items") {
        Some(Value::Array(empty)) if empty.is_empty() => {}
        _ => return None,
    }
    map.insert("items".to_owned(), Value::Array(parsed));
    Some(value)
}

/// One document's slice of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// Byte range of the document text, its `---` marker line included.
    pub(crate) bytes: std::ops::Range<usize>,
    /// Line number (from 1) of the first line of `bytes`.
    pub(crate) first_line: usize,
    /// First and last content line, `None` when the document has no content.
    pub(crate) content: Option<(usize, usize)>,
}

/// How a line takes part in document structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// `---` starting a document, with content after the marker on the same line or not.
    Start { has_content: bool },
    /// `...` ending a document.
    End,
    /// Blank, comment, or directive (`%YAML`): not content.
    Blank,
    /// Anything else.
    Content,
}

fn classify(line: &str) -> LineKind {
    // Most lines start with spaces and then a printable ASCII character other than `#`, `-`,
    // `.` or `%`: content, decided without the string searches below (the same answer: such
    // a line is no marker or directive, and not blank once trimmed).
    let bytes = line.as_bytes();
    if let Some(&first) = bytes.iter().find(|&&b| b != b' ')
        && first.is_ascii_graphic()
        && !matches!(first, b'#' | b'-' | b'.' | b'%')
    {
        return LineKind::Content;
    }
    classify_plain(line)
}

/// [`classify`] without its shortcut.
fn classify_plain(line: &str) -> LineKind {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let marker_rest = |marker: &str| {
        line.strip_prefix(marker)
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    };
    if let Some(rest) = marker_rest("---") {
        let rest = rest.trim();
        return LineKind::Start {
            has_content: !rest.is_empty() && !rest.starts_with('#'),
        };
    }
    if marker_rest("...").is_some() {
        return LineKind::End;
    }
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%') {
        LineKind::Blank
    } else {
        LineKind::Content
    }
}

/// `text.split('\n')`, each line break found by `memchr`'s vector search (the standard
/// library's looks at a word at a time: a twentieth of parsing kube-prometheus' CRDs).
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .map(Some)
        .chain([None])
        .map(move |end| {
            let line_start = start;
            let end = end.unwrap_or(text.len());
            start = end + 1;
            // A line feed is one byte: both ends are char boundaries.
            &text[line_start..end]
        })
}

/// `line` without a final `byte` (ASCII), tested as a byte: `strip_suffix('\n')` compares
/// through a `memcmp` call, one per line of every file read.
fn strip_ascii_suffix(line: &str, byte: u8) -> &str {
    debug_assert!(byte.is_ascii());
    match line.as_bytes().last() {
        // An ASCII byte is a char of its own: the cut is a char boundary.
        Some(&last) if last == byte => &line[..line.len() - 1],
        _ => line,
    }
}

/// `text.split_inclusive('\n')` by [`lines`]' search.
pub(crate) fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .map(|end| end + 1)
        .chain((!text.ends_with('\n') && !text.is_empty()).then_some(text.len()))
        .map(move |end| {
            let line_start = start;
            start = end;
            &text[line_start..end]
        })
}

/// Splits a YAML stream into its documents. A stretch before the first `---` (or after a `...`)
/// holding no content is not a document; a `---` always starts one, even an empty one.
///
/// Only a line that starts with `-` or `.` can be a marker: those are found by a vectorized scan,
/// and the lines between two markers are taken as a block (numbered by a vectorized count of
/// line feeds, their content's first and last lines found from either end), instead of each line
/// classified in turn (a twentieth of parsing kube-prometheus' `manifests/`). The answer is
/// [`split_documents_plain`]'s (tested).
pub(crate) fn split_documents(text: &str) -> Vec<Segment> {
    let bytes = text.as_bytes();
    let mut segments = Vec::new();
    let mut current: Option<Segment> = None;
    let mut explicit = false;
    // The lines not yet taken start at byte `pos`, which is on line `number`.
    let mut pos = 0;
    let mut number = 1;
    for start in marker_candidates(bytes) {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
        let kind = classify(strip_ascii_suffix(&text[start..end], b'\n'));
        if !matches!(kind, LineKind::Start { .. } | LineKind::End) {
            continue;
        }
        let line = number + count_line_feeds(&bytes[pos..start]);
        take_block(text, pos..start, number, &mut current);
        match kind {
            LineKind::Start { has_content } => {
                finish_segment(current.take(), explicit, &mut segments);
                explicit = true;
                current = Some(Segment {
                    bytes: start..end,
                    first_line: line,
                    content: has_content.then_some((line, line)),
                });
            }
            _ => {
                if let Some(segment) = current.as_mut() {
                    segment.bytes.end = end;
                }
                finish_segment(current.take(), explicit, &mut segments);
                explicit = false;
            }
        }
        pos = end;
        number = line + 1;
    }
    take_block(text, pos..text.len(), number, &mut current);
    finish_segment(current, explicit, &mut segments);
    segments
}

/// A document ends: kept when it was started by a marker or holds content.
fn finish_segment(segment: Option<Segment>, explicit: bool, out: &mut Vec<Segment>) {
    if let Some(segment) = segment
        && (explicit || segment.content.is_some())
    {
        out.push(segment);
    }
}

/// Lines `range` of `text` (whole lines, none a marker; the first is line `number`) join the
/// current document, or start one.
fn take_block(
    text: &str,
    range: std::ops::Range<usize>,
    number: usize,
    current: &mut Option<Segment>,
) {
    if range.is_empty() {
        return;
    }
    let bytes = text.as_bytes();
    let segment = current.get_or_insert(Segment {
        bytes: range.start..range.start,
        first_line: number,
        content: None,
    });
    segment.bytes.end = range.end;
    let is_content = |line: &str| classify(strip_ascii_suffix(line, b'\n')) == LineKind::Content;
    let Some(first) = lines_inclusive(&text[range.clone()])
        .position(is_content)
        .map(|i| number + i)
    else {
        return;
    };
    // The last content line, from the end: there is one (the first).
    let mut end = range.end;
    let last = loop {
        let body_end = if bytes[end - 1] == b'\n' {
            end - 1
        } else {
            end
        };
        let line_start = memchr::memrchr(b'\n', &bytes[range.start..body_end])
            .map_or(range.start, |i| range.start + i + 1);
        if is_content(&text[line_start..body_end]) {
            break number + count_line_feeds(&bytes[range.start..line_start]);
        }
        end = line_start;
    };
    segment.content = Some((segment.content.map_or(first, |(first, _)| first), last));
}

/// How many line feeds `bytes` holds (a vectorized count).
fn count_line_feeds(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// The byte offsets of the lines that start with `-` or `.` (the only ones that can be a `---`
/// or `...` marker), in order. The bytes are looked at 32 at a time by a loop without an early
/// exit, which the compiler vectorizes; only a block with a candidate is looked at byte by byte.
fn marker_candidates(bytes: &[u8]) -> Vec<usize> {
    const BLOCK: usize = 32;
    let starts = |next: u8| next == b'-' || next == b'.';
    let mut out = Vec::new();
    if bytes.first().is_some_and(|&b| starts(b)) {
        out.push(0);
    }
    // Line feeds at `i`, the byte after at `i + 1`.
    let mut i = 0;
    while i + 1 < bytes.len() {
        let block = BLOCK.min(bytes.len() - 1 - i);
        let (feeds, next) = (&bytes[i..i + block], &bytes[i + 1..i + 1 + block]);
        let any = feeds.iter().zip(next).fold(false, |any, (&feed, &next)| {
            any | ((feed == b'\n') & starts(next))
        });
        if any {
            for (j, (&feed, &next)) in feeds.iter().zip(next).enumerate() {
                if feed == b'\n' && starts(next) {
                    out.push(i + j + 1);
                }
            }
        }
        i += block;
    }
    out
}

/// The plain way of [`split_documents`]: every line classified in turn.
fn split_documents_plain(text: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut current: Option<Segment> = None;
    let mut explicit = false;
    let mut offset = 0;
    for (number, line) in lines_inclusive(text).enumerate().map(|(i, l)| (i + 1, l)) {
        let range = offset..offset + line.len();
        offset = range.end;
        let kind = classify(strip_ascii_suffix(line, b'\n'));
        match kind {
            LineKind::Start { has_content } => {
                finish_segment(current.take(), explicit, &mut segments);
                explicit = true;
                current = Some(Segment {
                    bytes: range,
                    first_line: number,
                    content: has_content.then_some((number, number)),
                });
            }
            LineKind::End => {
                if let Some(segment) = current.as_mut() {
                    segment.bytes.end = range.end;
                }
                finish_segment(current.take(), explicit, &mut segments);
                explicit = false;
            }
            LineKind::Blank | LineKind::Content => {
                let segment = current.get_or_insert(Segment {
                    bytes: range.start..range.start,
                    first_line: number,
                    content: None,
                });
                segment.bytes.end = range.end;
                if kind == LineKind::Content {
                    let first = segment.content.map_or(number, |(first, _)| first);
                    segment.content = Some((first, number));
                }
            }
        }
    }
    finish_segment(current, explicit, &mut segments);
    segments
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Result<Vec<Document>, ParseError> {
        parse(Format::Yaml, text.as_bytes())
    }

    fn ranges(docs: &[Document]) -> Vec<(usize, usize, usize)> {
        docs.iter().map(|d| (d.index, d.line, d.end_line)).collect()
    }

    #[test]
    fn multi_document_line_ranges() {
        let text = "\
# leading comment
apiVersion: v1
kind: ConfigMap

# trailing comment
---
# about b
b: 2
c:
  - x

---
---
null
--- # comment after marker
d: 4
...
# after end
--- {e: 5}
";
        let docs = yaml(text).unwrap();
        assert_eq!(
            ranges(&docs),
            [(0, 2, 3), (1, 8, 10), (4, 16, 16), (5, 19, 19)]
        );
        assert_eq!(
            docs[0].value,
            json!({"apiVersion": "v1", "kind": "ConfigMap"})
        );
        assert_eq!(docs[1].value, json!({"b": 2, "c": ["x"]}));
        assert_eq!(docs[3].value, json!({"e": 5}));
    }

    #[test]
    fn leading_marker_and_empty_file() {
        assert_eq!(ranges(&yaml("---\na: 1\n").unwrap()), [(0, 2, 2)]);
        assert_eq!(ranges(&yaml("# only a comment\n").unwrap()), []);
        assert_eq!(ranges(&yaml("").unwrap()), []);
        assert_eq!(ranges(&yaml("---\n---\na: 1").unwrap()), [(1, 3, 3)]);
        // CRLF line ends keep the same numbering.
        assert_eq!(
            ranges(&yaml("a: 1\r\n---\r\nb: 2\r\n").unwrap()),
            [(0, 1, 1), (1, 3, 3)]
        );
    }

    #[test]
    fn block_scalar_with_dashes_is_not_a_marker() {
        let text = "data:\n  script: |\n    ---\n    echo\n";
        let docs = yaml(text).unwrap();
        assert_eq!(ranges(&docs), [(0, 1, 4)]);
        assert_eq!(docs[0].value["data"]["script"], json!("---\necho\n"));
    }

    #[test]
    fn syntax_error_line_is_file_relative() {
        let text = "a: 1\n---\nb: 2\nc: [unclosed\n";
        let err = yaml(text).unwrap_err();
        assert!(err.line.is_some_and(|l| (4..=5).contains(&l)), "{err:?}");
        assert!(!err.message.contains(" at line "), "{err:?}");
    }

    #[test]
    fn scalars_resolve_like_kubectl() {
        // kubectl's YAML (go-yaml v2, YAML 1.1): `yes`/`on` are booleans, `0777` is octal, and
        // numbers travel as float64 so integral floats become integers.
        let docs = yaml("a: yes\nb: on\nc: 0777\nd: 1.0\ne: 1e3\nf: 1.5\ng: '1'\nh: 2024-01-01\n")
            .unwrap();
        assert_eq!(
            docs[0].value,
            json!({"a": true, "b": true, "c": 511, "d": 1, "e": 1000, "f": 1.5, "g": "1", "h": "2024-01-01"})
        );
        assert_eq!(
            serde_json::to_string(&docs[0].value["d"]).unwrap(),
            "1",
            "no trailing .0"
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = yaml("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        assert_eq!(err.message, "duplicate mapping key: a");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = yaml(&text).unwrap_err();
        assert!(err.message.contains("alias"), "{err:?}");
    }

    #[test]
    fn json_document() {
        let docs = parse(Format::Json, b"\n{\n  \"a\": 1\n}\n\n").unwrap();
        assert_eq!(ranges(&docs), [(0, 2, 4)]);
        let err = parse(Format::Json, b"{\n  \"a\": 1,\n}\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(parse(Format::Json, b"null").unwrap().is_empty());
        let err = parse(Format::Json, b"{\n  \"a\": 1,\n  \"a\": 2\n}\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        assert_eq!(err.message, "duplicate mapping key: a");
        let docs = parse(Format::Json, br#"{"n": [1, -2, 1.5, true, null, "s"]}"#).unwrap();
        assert_eq!(
            docs[0].value,
            serde_json::json!({"n": [1, -2, 1.5, true, null, "s"]})
        );
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of("a/b.YAML"), Some(Format::Yaml));
        assert_eq!(Format::of("b.yml"), Some(Format::Yaml));
        assert_eq!(Format::of("b.json"), Some(Format::Json));
        assert_eq!(Format::of("yaml/README.md"), None);
    }

    #[test]
    fn invalid_utf8_names_line() {
        let err = parse(Format::Yaml, b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    /// A list document like kube-prometheus' dashboards: many ConfigMaps with block scalars,
    /// a comment between items, keys after the sequence.
    fn big_list(indent: &str, edit: usize) -> String {
        let mut text = String::from("apiVersion: v1\nitems:\n");
        for i in 0..40 {
            if i == 7 {
                text.push_str("# a comment between items\n\n");
            }
            let version = if i == edit { 2 } else { 1 };
            text.push_str(&format!(
                "{indent}- apiVersion: v1\n{indent}  kind: ConfigMap\n{indent}  metadata:\n\
                 {indent}    name: dash-{i}\n{indent}    namespace: monitoring\n{indent}  data:\n\
                 {indent}    d.json: |-\n{indent}      {{\n{indent}        \"v\": {version},\n\
                 {indent}        - not an item\n{indent}      }}\n"
            ));
        }
        text.push_str("kind: ConfigMapList\nmetadata: {}\n");
        text
    }

    #[test]
    fn large_lists_parse_by_items_to_the_same_answer() {
        for indent in ["", "  "] {
            let cache = ItemCache::default();
            let text = big_list(indent, usize::MAX);
            let whole = parse(Format::Yaml, text.as_bytes()).unwrap();
            let by_items = parse_with(Format::Yaml, text.as_bytes(), Some(&cache)).unwrap();
            assert_eq!(by_items, whole);
            assert_eq!(cache.items.lock().unwrap().len(), 40, "{indent:?}");
            assert_eq!(whole[0].value["items"].as_array().unwrap().len(), 40);
            // A later version parses only its changed item.
            let edited = big_list(indent, 3);
            let whole = parse(Format::Yaml, edited.as_bytes()).unwrap();
            let by_items = parse_with(Format::Yaml, edited.as_bytes(), Some(&cache)).unwrap();
            assert_eq!(by_items, whole);
            assert_eq!(cache.items.lock().unwrap().len(), 41);
        }
    }

    /// Whatever a line dropped or shifted makes of the text, the item-by-item parse answers as
    /// the whole parse does: the same documents, or an error.
    #[test]
    fn large_lists_by_items_agree_on_every_line_dropped_or_shifted() {
        let text = big_list("  ", usize::MAX);
        let lines: Vec<&str> = text.lines().collect();
        let cache = ItemCache::default();
        for i in 0..lines.len() {
            for variant in 0..2 {
                let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                if variant == 0 {
                    edited.remove(i);
                } else {
                    edited[i] = format!(" {}", edited[i]);
                }
                let edited = edited.join("\n") + "\n";
                let whole = parse(Format::Yaml, edited.as_bytes());
                let by_items = parse_with(Format::Yaml, edited.as_bytes(), Some(&cache));
                match (&whole, &by_items) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "line {i} variant {variant}"),
                    (Err(_), Err(_)) => {}
                    _ => panic!("line {i} variant {variant}: {whole:?} vs {by_items:?}"),
                }
            }
        }
    }

    #[test]
    fn lists_with_anchors_or_flow_items_are_parsed_whole() {
        let cache = ItemCache::default();
        let mut text = big_list("", usize::MAX);
        text = text.replacen("name: dash-0", "name: &n dash-0", 1);
        text = text.replacen("name: dash-1\n", "name: *n\n", 1);
        let whole = parse(Format::Yaml, text.as_bytes());
        assert_eq!(
            parse_with(Format::Yaml, text.as_bytes(), Some(&cache)),
            whole
        );
        assert!(cache.items.lock().unwrap().is_empty());
    }

    /// Whether serde-saphyr read a file, which decides whether its documents are kept on disk:
    /// not for files wholly within the fast path's subset, nor for JSON; yes for any document
    /// outside it, and for errors. The documents are [`parse`]'s either way.
    #[test]
    fn parse_costed_says_whether_serde_saphyr_read_the_file() {
        let cases: [(Format, &str, bool); 6] = [
            (Format::Yaml, "a: 1\nb: [x]\n", true),
            (Format::Yaml, "# only\n---\na: 1\n---\n", false),
            (Format::Yaml, "a: 1\n---\nb: >\n  folded\n", true),
            (Format::Yaml, "a: [\n", true),
            (Format::Json, "{\"a\": 1}", false),
            (Format::Json, "{\"a\": ", true),
        ];
        for (format, text, slow) in cases {
            let (parsed, costed) = parse_costed(format, text.as_bytes(), None);
            assert_eq!(costed, slow, "{text:?}");
            assert_eq!(parsed, parse(format, text.as_bytes()), "{text:?}");
        }
        let (_, costed) = parse_costed(Format::Yaml, b"a: 1\n", None);
        assert!(!costed);
        let (parsed, costed) = parse_costed(Format::Yaml, b"a: \xff\n", None);
        assert!(costed && parsed.is_err());
    }

    /// The line splits by `memchr` give the standard library's lines.
    #[test]
    fn lines_split_as_the_standard_library_does() {
        let texts = [
            "",
            "\n",
            "\n\n",
            "a",
            "a\n",
            "a\nb",
            "a\nb\n",
            "\na",
            "a\n\nb\n\n",
            "é\nü",
            "x\r\ny\r\n",
            "  - a\n  - b",
        ];
        for text in texts {
            assert_eq!(
                lines(text).collect::<Vec<_>>(),
                text.split('\n').collect::<Vec<_>>(),
                "{text:?}"
            );
            assert_eq!(
                lines_inclusive(text).collect::<Vec<_>>(),
                text.split_inclusive('\n').collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    /// The document splitter's block scan gives the plain way's segments, on generated streams.
    #[test]
    fn split_documents_equals_the_plain_way() {
        // Lines of every kind: markers with and without content, near-markers, markers out of
        // column 0, directives, comments, blanks, carriage returns, list items at column 0, and
        // long lines (the candidate scan looks at 32 bytes at a time).
        const LINES: &[&str] = &[
            "---",
            "--- ",
            "---\r",
            "--- # c",
            "--- a: 1",
            "--- {e: 5}",
            "---\ta",
            "---x",
            "----",
            "--",
            "-- -",
            "...",
            "... ",
            "...\r",
            "... # end",
            "....",
            "..",
            ".",
            ". a",
            ".a: 1",
            "-",
            "- a",
            "-a",
            "- name: web",
            "  ---",
            "  ...",
            "# c",
            "  # c",
            "#---",
            "",
            " ",
            "\r",
            "\t",
            "%YAML 1.2",
            "%TAG ! tag:x,2000:",
            "a: 1",
            "  b: 2",
            "a: 1\r",
            "description: a line long enough to cross the scan's blocks of thirty-two bytes",
            "    - a sequence item, indented, long enough to cross a block boundary too",
        ];
        let mut rng = crate::test_rng::Rng(0x2545_f491_4f6c_dd1d);
        let mut texts: Vec<String> = vec![
            String::new(),
            "\n".into(),
            "---".into(),
            "...".into(),
            "-".into(),
            "a: 1".into(),
        ];
        for _ in 0..20_000 {
            let lines = (rng.next() % 14) as usize;
            let mut text = String::new();
            for _ in 0..lines {
                text.push_str(rng.pick(LINES));
                text.push('\n');
            }
            if rng.chance(30) {
                text.pop();
            }
            texts.push(text);
        }
        for text in &texts {
            assert_eq!(
                split_documents(text),
                split_documents_plain(text),
                "{text:?}"
            );
        }
        // Every case of the plain rules is met.
        let segments: Vec<Segment> = texts.iter().flat_map(|t| split_documents(t)).collect();
        assert!(segments.iter().any(|s| s.content.is_none()));
        assert!(
            segments
                .iter()
                .any(|s| s.content.is_some_and(|(a, b)| a < b))
        );
    }

    /// The line classifier's shortcut for content lines gives the full rules' answer.
    #[test]
    fn classify_shortcut_equals_the_full_rules() {
        let lines = [
            "",
            " ",
            "a: 1",
            "  a: 1",
            "---",
            "--- ",
            "---x",
            "--- # c",
            "--- a",
            "  ---",
            "...",
            "... ",
            "....",
            "  ...",
            "# c",
            "  # c",
            "#",
            "%YAML 1.2",
            " %x",
            "-",
            "- a",
            "  - a",
            "-a",
            ".a",
            "\ta",
            " \ta",
            "\u{3000}a",
            "\u{3000}",
            "\u{a0}#",
            "é: 1",
            "  é",
            "a\r",
            "---\r",
            "\r",
            "  \r",
            "{a: 1}",
            "[1]",
            "\"q\": 1",
            "'q': 1",
            "!tag x",
            "&a x",
            "*a",
            "? k",
            ": v",
            "|",
            ">",
            "@x",
            "`x",
        ];
        for line in lines {
            assert_eq!(classify(line), classify_plain(line), "{line:?}");
        }
    }
}
