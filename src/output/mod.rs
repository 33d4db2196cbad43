//! Writers for what the commands print: formats, colour decisions, the diff palette, tables.
//! Data goes to the writer given (stdout); summaries and notes are returned as lines for the
//! caller to put on stderr.

pub mod blame;
pub mod diff;
pub mod history;
pub mod progress;
pub mod rev_diff;
pub mod status;
pub mod sync;

use std::fmt::Write as _;

use clap::ValueEnum;
use unicode_width::UnicodeWidthStr;

pub use gitops_core::API_VERSION;

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// JSON with `apiVersion: kubectl-gitops/v1`.
    Json,
    /// YAML with `apiVersion: kubectl-gitops/v1`.
    Yaml,
    /// Text with more columns.
    Wide,
    /// Stable line-oriented text for scripts.
    Porcelain,
    /// A Markdown pull-request comment (`diff --from` only).
    Markdown,
}

impl OutputFormat {
    /// The name as `-o` takes it.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Wide => "wide",
            OutputFormat::Porcelain => "porcelain",
            OutputFormat::Markdown => "markdown",
        }
    }
}

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour when the stream is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Errors of the writers.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing to stdout failed (closed pipe, full disk).
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
    /// A document that cannot be written as JSON.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A document that cannot be written as YAML.
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

/// Writes a document as pretty JSON (with a final newline) or as YAML; `format` is `Json` or
/// `Yaml`, anything else writes JSON.
pub fn write_document(
    out: &mut dyn std::io::Write,
    format: OutputFormat,
    document: &serde_json::Value,
) -> Result<(), OutputError> {
    if format == OutputFormat::Yaml {
        out.write_all(serde_saphyr::to_string(document)?.as_bytes())?;
    } else {
        serde_json::to_writer_pretty(&mut *out, document)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Whether to colour a stream: `always`/`never` as given; `auto` only on a terminal, with
/// `NO_COLOR` unset or empty (no-color.org) and `TERM` not `dumb`.
pub fn use_color(
    when: ColorWhen,
    is_terminal: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
        }
    }
}

/// [`use_color`] for stdout in this process.
pub fn stdout_color(when: ColorWhen) -> bool {
    use std::io::IsTerminal;
    use_color(
        when,
        std::io::stdout().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("TERM").ok().as_deref(),
    )
}

/// Width to lay out for: the terminal's when stdout is one, else `$COLUMNS`, else 160.
pub fn terminal_width() -> usize {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal()
        && let Ok((cols, _)) = crossterm::terminal::size()
        && cols > 0
    {
        return usize::from(cols);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .unwrap_or(160)
}

pub use k8s_model::short_sha;

/// A terminal colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// One of the 16 ANSI colours (30-37 / 90-97 foreground codes minus 30).
    Ansi(u8),
    /// 24-bit colour.
    Rgb(u8, u8, u8),
}

/// Foreground, background and weight of a piece of text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Foreground colour.
    pub fg: Option<Color>,
    /// Background colour.
    pub bg: Option<Color>,
    /// Bold.
    pub bold: bool,
    /// Dim.
    pub dim: bool,
}

impl Style {
    /// A style with only a foreground colour.
    pub fn fg(color: Color) -> Style {
        Style {
            fg: Some(color),
            ..Style::default()
        }
    }

    fn sgr(&self) -> String {
        let mut codes: Vec<String> = Vec::new();
        if self.bold {
            codes.push("1".into());
        }
        if self.dim {
            codes.push("2".into());
        }
        match self.fg {
            Some(Color::Ansi(n)) if n < 8 => codes.push(format!("{}", 30 + n)),
            Some(Color::Ansi(n)) => codes.push(format!("{}", 90 + (n - 8) % 8)),
            Some(Color::Rgb(r, g, b)) => codes.push(format!("38;2;{r};{g};{b}")),
            None => {}
        }
        match self.bg {
            Some(Color::Ansi(n)) if n < 8 => codes.push(format!("{}", 40 + n)),
            Some(Color::Ansi(n)) => codes.push(format!("{}", 100 + (n - 8) % 8)),
            Some(Color::Rgb(r, g, b)) => codes.push(format!("48;2;{r};{g};{b}")),
            None => {}
        }
        codes.join(";")
    }

    /// `text` in this style, or as is when `color` is off or the style is empty.
    pub fn paint(&self, text: &str, color: bool) -> String {
        let sgr = self.sgr();
        if !color || sgr.is_empty() || text.is_empty() {
            return text.to_owned();
        }
        format!("\x1b[{sgr}m{text}\x1b[0m")
    }
}

/// Colours of the diff for a theme (SPEC §9: the diff keys of `dark`, `light`, `high-contrast`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffPalette {
    /// Background of removed lines.
    pub removed: Color,
    /// Background of the changed words of removed lines.
    pub removed_emphasis: Color,
    /// Background of added lines.
    pub added: Color,
    /// Background of the changed words of added lines.
    pub added_emphasis: Color,
    /// `---`/`+++` headers.
    pub file_header: Style,
    /// `@@` lines.
    pub hunk_header: Style,
    /// Line numbers and the side-by-side separator.
    pub gutter: Style,
    /// The syntect theme for the YAML.
    pub syntax_theme: &'static str,
}

impl DiffPalette {
    /// The palette of a built-in theme; `None` for names that are not built in.
    pub fn builtin(name: &str) -> Option<DiffPalette> {
        let gutter = Style {
            dim: true,
            ..Style::default()
        };
        let file_header = Style {
            bold: true,
            ..Style::default()
        };
        match name {
            "dark" => Some(DiffPalette::default()),
            "light" => Some(DiffPalette {
                removed: Color::Rgb(255, 224, 224),
                removed_emphasis: Color::Rgb(255, 176, 176),
                added: Color::Rgb(214, 255, 214),
                added_emphasis: Color::Rgb(160, 239, 160),
                file_header,
                hunk_header: Style::fg(Color::Ansi(4)),
                gutter,
                syntax_theme: "InspiredGitHub",
            }),
            "high-contrast" => Some(DiffPalette {
                removed: Color::Rgb(95, 0, 0),
                removed_emphasis: Color::Rgb(190, 0, 0),
                added: Color::Rgb(0, 80, 0),
                added_emphasis: Color::Rgb(0, 160, 0),
                file_header: Style {
                    bold: true,
                    fg: Some(Color::Ansi(15)),
                    ..Style::default()
                },
                hunk_header: Style {
                    bold: true,
                    fg: Some(Color::Ansi(14)),
                    ..Style::default()
                },
                gutter: Style::fg(Color::Ansi(7)),
                syntax_theme: "base16-eighties.dark",
            }),
            _ => None,
        }
    }
}

impl Default for DiffPalette {
    fn default() -> Self {
        let gutter = Style {
            dim: true,
            ..Style::default()
        };
        DiffPalette {
            removed: Color::Rgb(63, 0, 1),
            removed_emphasis: Color::Rgb(144, 16, 17),
            added: Color::Rgb(0, 40, 0),
            added_emphasis: Color::Rgb(0, 96, 0),
            file_header: Style {
                bold: true,
                ..Style::default()
            },
            hunk_header: Style::fg(Color::Ansi(6)),
            gutter,
            syntax_theme: "base16-ocean.dark",
        }
    }
}

/// A table laid out like kubectl's: columns padded to their widest cell, three spaces apart,
/// the last column unpadded. `paint` colours a cell after padding (so escapes do not count).
pub fn table(
    header: &[&str],
    rows: &[Vec<String>],
    paint: &dyn Fn(usize, usize, &str) -> String,
) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.width());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<(String, String)>| {
        let mut text = String::new();
        for (i, (plain, painted)) in cells.iter().enumerate() {
            text.push_str(painted);
            if i + 1 < cells.len() {
                let pad = widths[i].saturating_sub(plain.width()) + 3;
                text.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(
        header
            .iter()
            .map(|h| (h.to_string(), h.to_string()))
            .collect(),
    );
    for (r, row) in rows.iter().enumerate() {
        line(
            row.iter()
                .enumerate()
                .map(|(c, cell)| (cell.clone(), paint(r, c, cell)))
                .collect(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_decision() {
        assert!(use_color(ColorWhen::Auto, true, None, Some("xterm")));
        assert!(!use_color(ColorWhen::Auto, false, None, None));
        assert!(!use_color(ColorWhen::Auto, true, Some("1"), None));
        assert!(use_color(ColorWhen::Auto, true, Some(""), None));
        assert!(!use_color(ColorWhen::Auto, true, None, Some("dumb")));
        assert!(use_color(ColorWhen::Always, false, Some("1"), None));
        assert!(!use_color(ColorWhen::Never, true, None, None));
    }

    #[test]
    fn paint_only_with_colour() {
        let style = Style {
            fg: Some(Color::Ansi(2)),
            bg: Some(Color::Rgb(1, 2, 3)),
            bold: true,
            dim: false,
        };
        assert_eq!(style.paint("ok", false), "ok");
        assert_eq!(style.paint("ok", true), "\x1b[1;32;48;2;1;2;3mok\x1b[0m");
        assert_eq!(
            Style::fg(Color::Ansi(9)).paint("x", true),
            "\x1b[91mx\x1b[0m"
        );
        assert_eq!(Style::default().paint("x", true), "x");
    }

    #[test]
    fn table_pads_by_plain_width() {
        let rows = vec![
            vec!["Synced".to_string(), "a".to_string(), "x".to_string()],
            vec!["Drifted".to_string(), "bbbb".to_string(), "y".to_string()],
        ];
        let painted = table(&["S", "NAME", "Z"], &rows, &|_, c, cell| {
            if c == 0 {
                format!("<{cell}>")
            } else {
                cell.to_string()
            }
        });
        assert_eq!(
            painted,
            "S         NAME   Z\n<Synced>    a      x\n<Drifted>   bbbb   y\n"
        );
    }

    #[test]
    fn themes_have_palettes() {
        for name in ["dark", "light", "high-contrast"] {
            let palette = DiffPalette::builtin(name).unwrap();
            assert!(
                crate::highlight::theme_names().contains(&palette.syntax_theme),
                "{name}"
            );
        }
        assert!(DiffPalette::builtin("nope").is_none());
        assert_eq!(short_sha("0123456789abcdef"), "0123456");
        assert_eq!(short_sha("abc"), "abc");
    }
}
