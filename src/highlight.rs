//! YAML syntax highlighting with syntect (pure-Rust regexes). The syntax and theme sets load
//! once per process; highlighted texts are cached by content so the UI can redraw without
//! highlighting again. A diff highlights only the lines its hunks print
//! ([`highlight_yaml_lines`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Theme, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// The syntect theme used when a name is unknown.
pub const FALLBACK_THEME: &str = "base16-ocean.dark";

/// A run of one line with one foreground colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Byte range within the line (line break excluded).
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Foreground colour, RGB.
    pub fg: (u8, u8, u8),
    /// Bold in the theme.
    pub bold: bool,
}

impl Span {
    /// The byte range within the line.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// Per line of a text, its coloured spans.
pub type Highlighted = Arc<Vec<Vec<Span>>>;

struct Sets {
    syntaxes: SyntaxSet,
    themes: ThemeSet,
}

/// syntect's YAML syntax alone, as `dump_binary` writes a `SyntaxSet`: the test
/// `yaml_dump_is_syntects_yaml_syntax` builds it from syntect's default syntaxes (and rewrites it
/// with `UPDATE_SYNTAX_DUMP=1`). The defaults' 70 syntaxes would add 0.36 MB to the binary and
/// their loading time to the first highlight.
const YAML_SYNTAX_DUMP: &[u8] = include_bytes!("highlight/yaml.packdump");

/// The syntaxes we highlight with: YAML only.
fn yaml_syntaxes() -> SyntaxSet {
    syntect::dumps::from_binary(YAML_SYNTAX_DUMP)
}

fn sets() -> &'static Sets {
    static SETS: OnceLock<Sets> = OnceLock::new();
    SETS.get_or_init(|| Sets {
        syntaxes: yaml_syntaxes(),
        themes: ThemeSet::load_defaults(),
    })
}

/// Names of the syntect themes compiled in.
pub fn theme_names() -> Vec<&'static str> {
    sets().themes.themes.keys().map(String::as_str).collect()
}

fn theme(name: &str) -> Option<&'static Theme> {
    let themes = &sets().themes.themes;
    themes.get(name).or_else(|| themes.get(FALLBACK_THEME))
}

/// Entries kept before the cache starts over; a diff run needs two per resource, the UI a few
/// screens' worth.
const CACHE_LIMIT: usize = 512;

type CacheKey = (String, u64);

fn cache() -> &'static Mutex<HashMap<CacheKey, (String, Highlighted)>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, (String, Highlighted)>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// `text` as YAML in the syntect theme `theme_name` (unknown names fall back to
/// [`FALLBACK_THEME`]): one list of spans per line. Lines that fail to highlight come back
/// without spans, so callers print them plain.
pub fn highlight_yaml(text: &str, theme_name: &str) -> Highlighted {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let key = (theme_name.to_owned(), hasher.finish());
    if let Ok(cache) = cache().lock()
        && let Some((cached_text, lines)) = cache.get(&key)
        && cached_text == text
    {
        return lines.clone();
    }
    let lines = Arc::new(highlight_uncached(text, theme_name));
    if let Ok(mut cache) = cache().lock() {
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, (text.to_owned(), lines.clone()));
    }
    lines
}

/// The whole text by [`highlight_yaml_lines`]' way: block scalars' content lines without
/// syntect (the UI's detail pane of a CRD or a dashboard waited seconds for its colours).
fn highlight_uncached(text: &str, theme_name: &str) -> Vec<Vec<Span>> {
    let all = 0..LinesWithEndings::from(text).count();
    windows(text, theme_name, std::slice::from_ref(&all))
}

/// The plain way: syntect over every line of `text`, as [`highlight_yaml`] and
/// [`highlight_yaml_lines`] must answer (their tests compare).
pub fn highlight_yaml_plain(text: &str, theme_name: &str) -> Vec<Vec<Span>> {
    let sets = sets();
    let (Some(syntax), Some(theme)) = (
        sets.syntaxes.find_syntax_by_extension("yaml"),
        theme(theme_name),
    ) else {
        return text.lines().map(|_| Vec::new()).collect();
    };
    let mut highlighter = HighlightLines::new(syntax, theme);
    LinesWithEndings::from(text)
        .map(|line| line_spans(&mut highlighter, line, &sets.syntaxes))
        .collect()
}

/// [`highlight_yaml`]'s spans for the lines in `wanted` only (ranges of line indexes from 0;
/// the other lines come back without spans), for a diff that prints a few hunks of a long
/// text: highlighting all of kube-prometheus' CRDs took 33 s.
///
/// Each range is highlighted from its restart line ([`restart_line`]): YAML's highlighting
/// state is carried across lines only inside a block scalar, so from the scalar's header line
/// on the spans are those of the whole text (the tests compare with [`highlight_yaml_plain`]:
/// `windows_highlight_as_the_whole_text_does` on YAML with every block scalar form, and
/// `corpus::highlighted_windows_equal_the_whole_text_on_kube_prometheus`).
/// Ranges that meet are highlighted in one pass.
pub fn highlight_yaml_lines(text: &str, theme_name: &str, wanted: &[Range<usize>]) -> Highlighted {
    Arc::new(windows(text, theme_name, wanted))
}

/// [`highlight_yaml_lines`], not shared.
fn windows(text: &str, theme_name: &str, wanted: &[Range<usize>]) -> Vec<Vec<Span>> {
    let sets = sets();
    let lines: Vec<&str> = LinesWithEndings::from(text).collect();
    let mut result = vec![Vec::new(); lines.len()];
    let (Some(syntax), Some(theme)) = (
        sets.syntaxes.find_syntax_by_extension("yaml"),
        theme(theme_name),
    ) else {
        return result;
    };
    let mut windows: Vec<Range<usize>> = wanted
        .iter()
        .filter(|range| range.start < range.end.min(lines.len()))
        .map(|range| restart_line(&lines, range.start)..range.end.min(lines.len()))
        .collect();
    windows.sort_by_key(|range| range.start);
    // The highlighter, the next line it would read, and the block scalar it is in.
    let mut current: Option<(HighlightLines<'_>, usize, BlockScalar)> = None;
    for window in windows {
        let mut at = match &current {
            Some((_, next, _)) if *next >= window.start => *next,
            _ => {
                let fresh = HighlightLines::new(syntax, theme);
                current = Some((fresh, window.start, BlockScalar::None));
                window.start
            }
        };
        let Some((highlighter, next, block)) = current.as_mut() else {
            continue;
        };
        while at < window.end {
            result[at] = block.spans(lines[at], |line| {
                line_spans(highlighter, line, &sets.syntaxes)
            });
            at += 1;
        }
        *next = (*next).max(at);
    }
    result
}

/// Where a highlighter is with respect to block scalars: the content lines of one are a
/// single string span each, which syntect finds slowly (its YAML syntax builds a regex for
/// each of them, with the scalar's indentation in it: 0.4 ms a line, 20 s for the
/// dashboards of kube-prometheus' Grafana).
enum BlockScalar {
    /// Not in one.
    None,
    /// In one whose node is at this column ([`node_column`]); its content lines' style not
    /// seen yet.
    Entered(usize),
    /// In one, its content lines painted with this span's colours.
    Known(usize, Span),
}

impl BlockScalar {
    /// `line`'s spans: by `highlight` (which reads it), except a content line of a block
    /// scalar whose first content line's spans were one span over the whole line: it gets
    /// that span's colours, and `highlight` never reads it. The test
    /// `windows_highlight_as_the_whole_text_does` compares this with syntect's answer.
    fn spans(&mut self, line: &str, highlight: impl FnOnce(&str) -> Vec<Span>) -> Vec<Span> {
        let content = line.trim_end_matches(['\n', '\r']);
        let (indent, blank) = (indent(content), blank(content));
        match *self {
            BlockScalar::Known(header, span) if !blank && indent > header => {
                return vec![Span {
                    start: 0,
                    end: content.len(),
                    ..span
                }];
            }
            BlockScalar::Entered(header) if !blank && indent > header => {
                let spans = highlight(line);
                if let [span] = spans.as_slice()
                    && span.start == 0
                    && span.end == content.len()
                {
                    *self = BlockScalar::Known(header, *span);
                } else {
                    *self = BlockScalar::None;
                }
                return spans;
            }
            BlockScalar::Known(..) | BlockScalar::Entered(_) if blank => return highlight(line),
            _ => {}
        }
        *self = if opens_block_scalar(content) {
            BlockScalar::Entered(node_column(content))
        } else {
            BlockScalar::None
        };
        highlight(line)
    }
}

/// The column of the node a block scalar header belongs to, which its content is indented
/// past: the key's (`- - key: |` at 4), or the last dash's for a scalar that is a sequence
/// entry itself (`- - |` at 2).
fn node_column(header: &str) -> usize {
    let mut column = indent(header);
    let mut rest = &header[column..];
    while let Some(entry) = rest.strip_prefix('-').filter(|r| r.starts_with(' ')) {
        let node = entry.trim_start_matches(' ');
        if node.starts_with(['|', '>']) {
            break;
        }
        column += rest.len() - node.len();
        rest = node;
    }
    column
}

/// A line's indentation: its leading spaces.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Whether a line holds nothing but white space.
fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Where highlighting must start for line `first`'s spans to be those of the whole text: the
/// header line of the block scalar `first` is in (`key: |`, `- >-`), else `first` itself.
/// Found by indentation, going up: each line indented less than all below it up to `first` is
/// an ancestor; the outermost ancestor opening a block scalar is the header (a line in a
/// block scalar that looks like one is inside it, so below it).
fn restart_line(lines: &[&str], first: usize) -> usize {
    let mut restart = first;
    let mut below = if blank(lines[first]) {
        usize::MAX
    } else {
        indent(lines[first])
    };
    for at in (0..first).rev() {
        let line = lines[at];
        if below == 0 {
            break;
        }
        if blank(line) {
            continue;
        }
        let depth = indent(line);
        if depth < below {
            if opens_block_scalar(line) {
                restart = at;
            }
            below = depth;
        }
    }
    restart
}

/// Whether a line ends with a block scalar's header: `|` or `>`, then an optional chomping
/// indicator and indentation indicator in either order, after `: ` or `- ` (or alone).
fn opens_block_scalar(line: &str) -> bool {
    let line = line.trim_end();
    let header = line.trim_end_matches(|c: char| c == '+' || c == '-' || c.is_ascii_digit());
    let Some(before) = header
        .strip_suffix('|')
        .or_else(|| header.strip_suffix('>'))
    else {
        return false;
    };
    line.len() - header.len() <= 2
        && (before.trim().is_empty()
            || before.ends_with(": ")
            || before.ends_with("- ")
            || before.trim_end() == "-")
}

/// One line's spans (line break excluded); none when it fails to highlight.
fn line_spans(highlighter: &mut HighlightLines<'_>, line: &str, syntaxes: &SyntaxSet) -> Vec<Span> {
    let content_len = line.trim_end_matches(['\n', '\r']).len();
    let mut spans = Vec::new();
    if let Ok(regions) = highlighter.highlight_line(line, syntaxes) {
        let mut offset = 0;
        for (style, piece) in regions {
            let start = offset;
            offset += piece.len();
            let end = offset.min(content_len);
            if start < end {
                spans.push(Span {
                    start,
                    end,
                    fg: (style.foreground.r, style.foreground.g, style.foreground.b),
                    bold: style.font_style.contains(FontStyle::BOLD),
                });
            }
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "apiVersion: v1\nkind: ConfigMap\ndata:\n  LOG_LEVEL: debug # comment\n";

    #[test]
    fn spans_cover_each_line_and_keys_differ_from_values() {
        let lines = highlight_yaml(YAML, "base16-ocean.dark");
        assert_eq!(lines.len(), 4);
        for (spans, line) in lines.iter().zip(YAML.lines()) {
            let covered: usize = spans.iter().map(|s| s.end - s.start).sum();
            assert_eq!(covered, line.len(), "{line:?}");
        }
        let first = &lines[0];
        let key = first.iter().find(|s| s.start == 0).unwrap();
        let value = first.iter().find(|s| s.range().contains(&12)).unwrap();
        assert_ne!(key.fg, value.fg, "key and value share a colour");
    }

    /// The plain way: syntect's default syntaxes, YAML among them, and YAML taken out alone.
    /// Its definition refers to its own contexts by (syntax index, context index) in the
    /// defaults; alone it is syntax 0 (syntect keeps those indices private: they are rewritten
    /// in the definition's serde form).
    fn yaml_alone_from_the_defaults() -> SyntaxSet {
        let defaults = SyntaxSet::load_defaults_newlines();
        let index = defaults
            .syntaxes()
            .iter()
            .position(|s| s.name == "YAML")
            .expect("syntect's defaults have YAML");
        let yaml = defaults.into_builder().syntaxes()[index].clone();
        let mut value = serde_json::to_value(&yaml).unwrap();
        renumber(&mut value, index);
        let mut builder = syntect::parsing::SyntaxSetBuilder::new();
        builder.add(serde_json::from_value(value).unwrap());
        builder.build()
    }

    fn renumber(value: &mut serde_json::Value, index: usize) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(i) = map.get_mut("syntax_index") {
                    assert_eq!(
                        i.as_u64(),
                        Some(index as u64),
                        "YAML refers to another syntax"
                    );
                    *i = 0.into();
                }
                map.values_mut().for_each(|v| renumber(v, index));
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| renumber(v, index)),
            _ => {}
        }
    }

    #[test]
    fn yaml_dump_is_syntects_yaml_syntax() {
        if std::env::var_os("UPDATE_SYNTAX_DUMP").is_some() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/highlight/yaml.packdump");
            std::fs::write(
                path,
                syntect::dumps::dump_binary(&yaml_alone_from_the_defaults()),
            )
            .unwrap();
        }
        let ours = yaml_syntaxes();
        let names: Vec<&str> = ours.syntaxes().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["YAML"]);
        let defaults = SyntaxSet::load_defaults_newlines();
        let theirs = defaults.find_syntax_by_name("YAML").unwrap();
        assert_eq!(ours.syntaxes()[0].file_extensions, theirs.file_extensions);
        // Highlighting with the dump equals highlighting with the defaults, in every theme.
        let text = "# a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"x\"\n  \
            labels: {a: b, 'c': 1}\ndata:\n  script: |\n    echo ${HOME} # not a comment\n  \
            list: [1, 2.5, true, null, ~]\n  anchor: &a {k: v}\n  alias: *a\n  date: 2024-01-01\n\
            items:\n- name: a # c\n  value: >-\n    folded\n    text\n- !!str 0x1F\n...\n";
        for theme in ThemeSet::load_defaults().themes.values() {
            let mut a = HighlightLines::new(&ours.syntaxes()[0], theme);
            let mut b = HighlightLines::new(theirs, theme);
            for line in LinesWithEndings::from(text) {
                assert_eq!(
                    a.highlight_line(line, &ours).unwrap(),
                    b.highlight_line(line, &defaults).unwrap(),
                    "{line:?}"
                );
            }
        }
    }

    #[test]
    fn results_are_cached_and_unknown_themes_fall_back() {
        let a = highlight_yaml(YAML, "no-such-theme");
        let b = highlight_yaml(YAML, "no-such-theme");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*a, *highlight_yaml(YAML, FALLBACK_THEME));
        assert!(theme_names().contains(&FALLBACK_THEME));
    }

    /// Spans of every window (each line alone, and runs of lines) equal the whole text's, on
    /// YAML with literal and folded block scalars (chomping and indentation indicators, lines
    /// inside them that look like keys, headers, comments or sequence entries, blank lines),
    /// nested mappings and sequences.
    #[test]
    fn windows_highlight_as_the_whole_text_does() {
        let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels:
    app: x # not a comment in a value
data:
  script.sh: |-
    #!/bin/sh
    key: |
      deeper: >-
    - item

    echo \"done\" # tail
  dashboard.json: |
    {
      \"panels\": [1, 2],
      \"title\": \"a: b\"
    }
  plain: value
  folded: >-
    one two
    three: four
  kept: |+
    x

  indented: |2
      two more
list:
- |
  in a sequence
- name: b
  text: >
    folded
    lines
- 3
rules:
- expr: |
    sum(x)
  record: a
- - key: >-
      v
    other: b
  -   spaced: |
        w
      sibling: c
last: true
";
        let whole = highlight_yaml_plain(text, FALLBACK_THEME);
        assert_eq!(*highlight_yaml(text, FALLBACK_THEME), whole);
        let count = whole.len();
        for start in 0..count {
            for len in [1, 2, 5] {
                let end = (start + len).min(count);
                let window = start..end;
                let some =
                    highlight_yaml_lines(text, FALLBACK_THEME, std::slice::from_ref(&window));
                assert_eq!(some.len(), count);
                for line in start..end {
                    assert_eq!(
                        some[line], whole[line],
                        "line {line} of window {start}..{end}"
                    );
                }
                for line in (0..start).chain(end..count) {
                    assert!(some[line].is_empty() || line < start, "line {line} outside");
                }
            }
        }
        let all = highlight_yaml_lines(text, FALLBACK_THEME, &[3..9, 0..count, 20..22]);
        assert_eq!(*all, whole);
    }

    /// What is a block scalar's header: the indicators after `: `, `- ` or alone.
    #[test]
    fn block_scalar_headers() {
        for line in [
            "a: |", "a: |-", "a: >+", "a: |2", "a: |2-", "a: >-2", "- |", "  - >", "|",
        ] {
            assert!(opens_block_scalar(line), "{line}");
        }
        for line in [
            "a: b|", "a: b", "a: '|'", "a: |x", "a:|", "a: |-+-", "a: >123",
        ] {
            assert!(!opens_block_scalar(line), "{line}");
        }
        for (line, column) in [
            ("a: |", 0),
            ("  a: |", 2),
            ("- |", 0),
            ("- a: |", 2),
            ("- - |", 2),
            ("  - - a: >-", 6),
            ("-   a: |", 4),
        ] {
            assert_eq!(node_column(line), column, "{line}");
        }
    }
}
