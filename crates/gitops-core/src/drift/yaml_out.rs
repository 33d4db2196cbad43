//! A faster writer of [`super::to_yaml`]'s text, byte for byte serde-saphyr's (proven on
//! generated objects and on every corpus document, `tests/corpus.rs`).
//!
//! Writing YAML was the largest part of comparing large objects (a `diff --from` of
//! kube-prometheus writes 11 MB of CRDs): serde-saphyr walks the object through serde, turns
//! each key into a string of its own and decides each scalar's style character by character.
//! This writer lays out the block structure itself, as serde-saphyr does for JSON values
//! (keys two columns in per level, a sequence at its key's column, a mapping or sequence in
//! a sequence entry starting on the dash's line, `{}` and `[]` for empty ones), and writes
//! directly only the scalars whose form it knows exactly:
//!
//! - `null`, `true`, `false` and integers;
//! - keys and strings that start with an ASCII letter, hold printable ASCII only, no `:` or
//!   `#`, do not end in a space, are at most 80 bytes (longer strings may be folded) and are
//!   none of YAML 1.1's special words in any case (`y`, `no`, `on`, `null`, `nan`, ...):
//!   plain (keys also without spaces);
//! - strings with a line break whose characters a block scalar holds: literal (`|`, `|-`,
//!   `|+`, `|2`), as serde-saphyr chooses and writes them;
//! - longer one-line strings otherwise like the plain ones: folded (`>-`), a port of
//!   serde-saphyr's `write_folded_block`.
//!
//! Every other scalar (a float, a quoted string, a long non-ASCII one, an odd key) is written
//! by serde-saphyr itself as the value of a one-key mapping, and its lines moved to where it
//! goes: serde-saphyr folds and indents a block scalar relative to its key or dash, never to
//! the page. Those renderings are kept in [`Scalars`] by their text, so the two sides of a
//! comparison write a string they share once. Anything unexpected in a rendering (a key
//! written as a complex key, a value not on its key's line) gives `None`: the caller writes
//! the whole object with serde-saphyr, as without this.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Scalars serde-saphyr wrote, by their text: keys as they stand before `:`, values as they
/// follow `key: ` (for a block scalar, its header line and its lines two columns in).
#[derive(Debug, Default)]
pub struct Scalars {
    keys: HashMap<String, String>,
    strings: HashMap<String, String>,
}

/// `object` as serde-saphyr writes it, `None` when it is not a non-empty mapping or holds
/// something this writer does not lay out (the caller then uses serde-saphyr).
pub fn to_yaml(object: &Value, scalars: &mut Scalars) -> Option<String> {
    let Value::Object(map) = object else {
        return None;
    };
    if map.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(4096);
    entries(map, 0, false, &mut out, scalars)?;
    Some(out)
}

/// The entries of a mapping whose keys are at column `col`; the first one goes where the
/// text is when `inline` (after a sequence entry's dash).
fn entries(
    map: &Map<String, Value>,
    col: usize,
    inline: bool,
    out: &mut String,
    scalars: &mut Scalars,
) -> Option<()> {
    for (n, (key, value)) in map.iter().enumerate() {
        if n > 0 || !inline {
            indent(out, col);
        }
        write_key(key, out, scalars)?;
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                entries(inner, col + 2, false, out, scalars)?;
            }
            // A sequence sits at its key's column.
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(items, col, false, out, scalars)?;
            }
            Value::Object(_) => out.push_str(" {}\n"),
            Value::Array(_) => out.push_str(" []\n"),
            scalar => {
                out.push(' ');
                write_scalar(scalar, col, out, scalars)?;
            }
        }
    }
    Some(())
}

/// The entries of a sequence whose dashes are at column `col`; the first one goes where the
/// text is when `inline`.
fn sequence(
    items: &[Value],
    col: usize,
    inline: bool,
    out: &mut String,
    scalars: &mut Scalars,
) -> Option<()> {
    for (n, item) in items.iter().enumerate() {
        if n > 0 || !inline {
            indent(out, col);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                entries(inner, col + 2, true, out, scalars)?;
            }
            Value::Array(inner) if !inner.is_empty() => {
                sequence(inner, col + 2, true, out, scalars)?;
            }
            Value::Object(_) => out.push_str("{}\n"),
            Value::Array(_) => out.push_str("[]\n"),
            scalar => write_scalar(scalar, col, out, scalars)?,
        }
    }
    Some(())
}

fn indent(out: &mut String, col: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = col;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.push_str(&SPACES[..n]);
        left -= n;
    }
}

fn write_key(key: &str, out: &mut String, scalars: &mut Scalars) -> Option<()> {
    if plain_word(key, false) {
        out.push_str(key);
        return Some(());
    }
    if let Some(written) = scalars.keys.get(key) {
        out.push_str(written);
        return Some(());
    }
    let text = one_entry(key, Value::Null)?;
    let written = text.strip_suffix(": null\n")?;
    if written.contains('\n') || written.starts_with('?') {
        return None;
    }
    out.push_str(written);
    scalars.keys.insert(key.to_owned(), written.to_owned());
    Some(())
}

/// A scalar after `key: ` or `- ` (the key or dash at column `col`), with its line break.
fn write_scalar(value: &Value, col: usize, out: &mut String, scalars: &mut Scalars) -> Option<()> {
    match value {
        Value::Null => out.push_str("null\n"),
        Value::Bool(true) => out.push_str("true\n"),
        Value::Bool(false) => out.push_str("false\n"),
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            out.push_str(&n.to_string());
            out.push('\n');
        }
        Value::String(s) if plain_word(s, true) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::String(s) if has_line_feed(s) && block_content_safe(s) => literal(s, col, out),
        Value::String(s) if foldable(s) => folded(s, col, out),
        Value::String(s) => match scalars.strings.get(s) {
            Some(written) => place(written, col, out),
            None => {
                let written = written_value(value)?;
                place(&written, col, out);
                scalars.strings.insert(s.clone(), written);
            }
        },
        // Floats: rare in manifests, written each time.
        Value::Number(_) => place(&written_value(value)?, col, out),
        Value::Object(_) | Value::Array(_) => return None,
    }
    Some(())
}

/// serde-saphyr's text of `value` as the value of a top-level key: what follows `k: `.
fn written_value(value: &Value) -> Option<String> {
    one_entry("k", value.clone())?
        .strip_prefix("k: ")
        .map(str::to_owned)
}

/// serde-saphyr's text of a mapping of one entry.
fn one_entry(key: &str, value: Value) -> Option<String> {
    let mut one = Map::new();
    one.insert(key.to_owned(), value);
    serde_saphyr::to_string(&Value::Object(one)).ok()
}

/// A scalar's text written for column 0, moved to column `col`: the lines after the first
/// (a block scalar's) take `col` more spaces; empty lines stay empty.
fn place(written: &str, col: usize, out: &mut String) {
    let mut lines = written.split_inclusive('\n');
    if let Some(first) = lines.next() {
        out.push_str(first);
    }
    for line in lines {
        if line != "\n" {
            indent(out, col);
        }
        out.push_str(line);
    }
}

/// Whether `s` holds a line feed, by memchr's vector search: `contains('\n')` went through the
/// standard library's char searcher, a sixth of writing kube-prometheus' CRDs as YAML.
fn has_line_feed(s: &str) -> bool {
    memchr::memchr(b'\n', s.as_bytes()).is_some()
}

/// Characters a block scalar holds as they are (serde-saphyr's
/// `is_block_scalar_content_safe`): no `\r`, C0 or C1 controls but tab and line feed, NEL,
/// line or paragraph separators, byte-order marks, surrogates or U+FFFE/U+FFFF.
///
/// A string of printable ASCII, tabs and line feeds (a dashboard's JSON, a CRD's description)
/// is safe: looked at bytewise by a loop without an early exit, which the compiler vectorizes;
/// any other is walked char by char ([`block_content_safe_plain`], the same answer: tested).
fn block_content_safe(s: &str) -> bool {
    let ascii_safe = s.as_bytes().iter().fold(true, |safe, &b| {
        safe & ((0x20..=0x7e).contains(&b) | (b == b'\n') | (b == b'\t'))
    });
    ascii_safe || block_content_safe_plain(s)
}

/// [`block_content_safe`] char by char.
fn block_content_safe_plain(s: &str) -> bool {
    s.chars().all(|ch| match ch {
        '\n' | '\t' => true,
        '\r' | '\u{0085}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' => false,
        c => matches!(
            c as u32,
            0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x0010_FFFF
        ),
    })
}

/// A string with a line break, as serde-saphyr writes it: a literal block scalar (`|`), its
/// header with `2` when the first non-empty line starts with a space, `-` without a final
/// line break, `+` with more than one (or only line breaks); each non-empty line two columns
/// past `col`.
fn literal(s: &str, col: usize, out: &mut String) {
    let content = s.trim_end_matches('\n');
    let trailing = s.len() - content.len();
    out.push('|');
    let first = content.split('\n').find(|line| !line.is_empty());
    if first.is_some_and(|line| line.starts_with(' ')) {
        out.push('2');
    }
    match trailing {
        0 => out.push('-'),
        1 if !content.is_empty() => {}
        _ => out.push('+'),
    }
    out.push('\n');
    if content.is_empty() {
        for _ in 0..trailing {
            out.push('\n');
        }
        return;
    }
    for line in content.split('\n') {
        if !line.is_empty() {
            indent(out, col + 2);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Longer strings serde-saphyr folds (in characters; this writer's strings are ASCII).
const FOLD_WIDTH: usize = 80;

/// A one-line string longer than [`FOLD_WIDTH`] that serde-saphyr folds (`>-`), within what
/// this writer folds itself: a [`word`] of value characters.
fn foldable(s: &str) -> bool {
    s.len() > FOLD_WIDTH && word(s, value_char)
}

/// Starts with an ASCII letter, does not end in a space, and every byte is `allowed`.
fn word(s: &str, allowed: fn(u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.last() != Some(&b' ')
        && bytes.iter().all(|&b| allowed(b))
}

/// A character of a plain or folded value: printable ASCII but `:` and `#`.
fn value_char(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b':' && b != b'#'
}

/// A character of a plain key: ASCII letters and digits, `-`, `_`, `.`, `/`.
fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')
}

/// A [`foldable`] string as serde-saphyr's `write_folded_block` writes it, two columns past
/// `col`: a line ends at the last run of spaces before its 81st character (the run's spaces
/// but one stay at its end); a line with no run there ends the folding, the rest of the
/// string stays on it.
fn folded(s: &str, col: usize, out: &mut String) {
    out.push_str(">-\n");
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut column = 0;
    // The last run of spaces closed on this line: start, end, length.
    let mut last_run: Option<(usize, usize, usize)> = None;
    let mut run: Option<(usize, usize)> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b' '
            && let Some((run_start, run_len)) = run.take()
        {
            last_run = Some((run_start, i, run_len));
        }
        if b == b' ' {
            run = Some(match run {
                Some((run_start, run_len)) => (run_start, run_len + 1),
                None => (i, 1),
            });
        }
        column += 1;
        if column > FOLD_WIDTH {
            let Some((space_start, space_end, space_len)) = last_run else {
                break;
            };
            indent(out, col + 2);
            out.push_str(&s[start..space_start]);
            for _ in 1..space_len {
                out.push(' ');
            }
            out.push('\n');
            start = space_end;
            column = 0;
            last_run = None;
        }
    }
    indent(out, col + 2);
    out.push_str(&s[start..]);
    out.push('\n');
}

/// A key (`value` false) or string value written plain by serde-saphyr, on its own: see the
/// module's list. Values may hold inner spaces, keys not.
fn plain_word(s: &str, value: bool) -> bool {
    if s.len() > FOLD_WIDTH || !word(s, if value { value_char } else { key_char }) {
        return false;
    }
    // Words a YAML 1.1 or 1.2 reader takes for another type, in any case.
    const SPECIAL: [&str; 11] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf",
    ];
    s.len() > 5 || !SPECIAL.iter().any(|w| s.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(value: &Value) -> String {
        serde_saphyr::to_string(value).unwrap()
    }

    /// A deterministic xorshift generator, so the generated tests need no crate and repeat.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len() as u64) as usize]
        }
    }

    /// The bytewise ASCII test gives the char walk's answer: strings of safe ASCII and of every
    /// character class the walk refuses or allows beyond ASCII, alone and mixed.
    #[test]
    fn block_content_safe_equals_the_char_walk() {
        let pieces = [
            "a",
            " ",
            "~",
            "\n",
            "\t",
            "\r",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "\u{80}",
            "\u{85}",
            "\u{9f}",
            "\u{a0}",
            "é",
            "—",
            "\u{2028}",
            "\u{2029}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{feff}",
            "\u{fffd}",
            "\u{fffe}",
            "\u{ffff}",
            "\u{10000}",
            "😀",
            "{\"k\": [1, 2]}",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut safe, mut unsafe_) = (0, 0);
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..rng.below(40) {
                // Mostly safe ASCII, as real strings are, so both answers are met often.
                let piece = if rng.below(10) < 8 {
                    rng.pick(&pieces[..5])
                } else {
                    rng.pick(&pieces)
                };
                s.push_str(piece);
            }
            let answer = block_content_safe(&s);
            assert_eq!(answer, block_content_safe_plain(&s), "{s:?}");
            if answer { safe += 1 } else { unsafe_ += 1 }
        }
        assert!(safe > 1000 && unsafe_ > 1000, "{safe} safe, {unsafe_} not");
        for s in [
            "",
            "a\n",
            "é\n",
            "a\u{85}",
            "long line\n".repeat(50).as_str(),
        ] {
            assert_eq!(block_content_safe(s), block_content_safe_plain(s), "{s:?}");
        }
    }

    #[test]
    fn manifests_are_written_as_serde_saphyr_writes_them() {
        let long = "A description longer than eighty characters, which serde-saphyr folds at spaces into lines.";
        let cases = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "x"}},
                   "data": {"k": "v", "n": "1", "yes": "no", "e": "", "f": "0.93.0", "g": "x #y", "h": "a: b"}}),
            json!({"spec": {"list": [1, 2, {"a": null, "b": true, "c": false}, [], {}, [[3, 4], "x"]], "empty": {}, "none": [],
                   "float": 1.5, "big": 12345678901234567890u64, "neg": -3}}),
            json!({"d": long, "seq": [long, {"k": long, "m": "one\ntwo\n"}], "deep": {"deeper": {"block": "  lead\nx", "keep": "a\n\n", "tab": "a\tb\r\n"}}}),
            json!({"weird key": 1, "k:ey": 2, "-k": 3, "123": 4, "true": 5, "": 6, "a#b": 7, "a #b": 8, "y": 9, "Off": 10}),
            json!({"m": [{"a": 1, "b": [1, {"c": [{"d": "e\nf"}]}]}, {"c": {"d": 1}}], "u": "héllo — wörld", "w": "word  word"}),
        ];
        for case in &cases {
            let fast = to_yaml(case, &mut Scalars::default()).expect("written");
            assert_eq!(fast, plain(case), "{case:#}");
        }
        // One cache for two objects, as a comparison's two sides share it.
        let mut shared = Scalars::default();
        for case in cases.iter().chain(&cases) {
            assert_eq!(to_yaml(case, &mut shared).unwrap(), plain(case));
        }
        assert_eq!(to_yaml(&json!({}), &mut shared), None);
        assert_eq!(to_yaml(&json!(["a"]), &mut shared), None);
    }

    /// Random objects (a deterministic xorshift generator: odd keys and scalars, every
    /// container shape, block and folded strings, special words in any case) are written
    /// byte for byte as serde-saphyr writes them.
    #[test]
    fn generated_objects_are_written_as_serde_saphyr_writes_them() {
        const WORDS: [&str; 40] = [
            "name",
            "app",
            "Yes",
            "NO",
            "on",
            "oFF",
            "y",
            "N",
            "null",
            "Null",
            "~",
            "true",
            "nan",
            ".inf",
            "-1",
            "1e3",
            "0x1F",
            "0o7",
            "1_000",
            "1:20",
            "2001-12-14",
            "_a",
            "a b",
            "a: b",
            "a #b",
            "a#b",
            "x:",
            "- x",
            "? y",
            "@at",
            "%p",
            "'q'",
            "\"d\"",
            "é",
            "tab\there",
            "line\nbreak",
            " lead",
            "trail ",
            "",
            "---",
        ];
        fn scalar(rng: &mut Rng) -> Value {
            match rng.below(9) {
                0 => Value::Null,
                1 => Value::Bool(rng.below(2) == 0),
                2 => json!(rng.below(100_000) as i64 - 500),
                3 => json!(rng.below(1000) as f64 / 8.0),
                4 => {
                    let words = rng.below(30) + 1;
                    let text: Vec<&str> = (0..words).map(|_| rng.pick(&WORDS)).collect();
                    json!(text.join(if rng.below(3) == 0 { "  " } else { " " }))
                }
                5 => {
                    let lines = rng.below(5) + 1;
                    let mut text = String::new();
                    for _ in 0..lines {
                        if rng.below(4) == 0 {
                            text.push_str("  ");
                        }
                        text.push_str(rng.pick(&WORDS));
                        text.push('\n');
                    }
                    for _ in 0..rng.below(3) {
                        text.push('\n');
                    }
                    if rng.below(3) == 0 {
                        text.pop();
                    }
                    json!(text)
                }
                _ => json!(rng.pick(&WORDS)),
            }
        }
        fn node(rng: &mut Rng, depth: u32) -> Value {
            match rng.below(if depth > 4 { 1 } else { 4 }) {
                0 => scalar(rng),
                1 => {
                    let n = rng.below(4);
                    Value::Array((0..n).map(|_| node(rng, depth + 1)).collect())
                }
                _ => {
                    let n = rng.below(5);
                    let mut map = Map::new();
                    for _ in 0..n {
                        let key = rng.pick(&WORDS).to_owned();
                        map.insert(key, node(rng, depth + 1));
                    }
                    Value::Object(map)
                }
            }
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut taken, runs) = (0, 5000);
        let mut shared = Scalars::default();
        for _ in 0..runs {
            let mut map = Map::new();
            for _ in 0..rng.below(4) + 1 {
                map.insert(rng.pick(&WORDS).to_owned(), node(&mut rng, 0));
            }
            let object = Value::Object(map);
            if let Some(fast) = to_yaml(&object, &mut shared) {
                assert_eq!(fast, plain(&object), "{object:#}");
                taken += 1;
            }
        }
        assert!(taken > runs * 9 / 10, "only {taken} of {runs} written");
    }
}
