//! UI themes (SPEC §9): semantic colour keys plus a syntect syntax theme. Built-ins are the
//! `themes/*.yaml` files compiled in; user themes come from
//! `$XDG_CONFIG_HOME/kubectl-gitops/themes/<name>.yaml` or a file path. Views take colours
//! only from here.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::model::DriftState;

/// The built-in themes: name and YAML text.
pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
];

/// The theme used when none is asked for.
pub const DEFAULT_THEME: &str = "dark";

/// A theme that cannot be loaded, naming the file (and line) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// The file has a YAML error, an unknown key or a bad colour.
    #[error("{file}{}: invalid theme: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The theme file.
        file: String,
        /// Line, from 1, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be read.
    #[error("cannot read theme file {file}: {source}")]
    Read {
        /// The theme file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither a built-in name nor a user theme nor a file.
    #[error(
        "unknown theme {name:?}: use dark, light or high-contrast, a file path, or put {name}.yaml in {dir}"
    )]
    Unknown {
        /// The name asked for.
        name: String,
        /// Where user themes are looked up.
        dir: String,
    },
}

/// Colours and styles of every semantic element of the UI.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// Name (built-in name or file stem).
    pub name: String,
    /// The syntect theme for YAML; `None` when colours are off.
    pub syntax: Option<String>,
    /// State colours, in [`DriftState`] order.
    pub states: [Style; 6],
    /// Added diff lines.
    pub diff_added: Style,
    /// Changed words of added lines.
    pub diff_added_emphasis: Style,
    /// Removed diff lines.
    pub diff_removed: Style,
    /// Changed words of removed lines.
    pub diff_removed_emphasis: Style,
    /// `@@` lines.
    pub diff_hunk_header: Style,
    /// Line numbers and separators.
    pub diff_gutter: Style,
    /// Plain text.
    pub text: Style,
    /// Secondary text (dates, hints).
    pub dim: Style,
    /// Borders of panes without focus.
    pub border: Style,
    /// Border of the focused pane.
    pub border_focused: Style,
    /// Pane titles.
    pub title: Style,
    /// The selected row.
    pub selection: Style,
    /// The status bar.
    pub status_bar: Style,
    /// HEAD mark in the history.
    pub head_mark: Style,
    /// The commit the live state matches.
    pub live_mark: Style,
    /// Error messages.
    pub error: Style,
    /// Warnings.
    pub warning: Style,
}

impl Theme {
    /// The style of a drift state.
    pub fn state(&self, state: DriftState) -> Style {
        self.states[state as usize]
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (name, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // Built-ins are checked by the tests; a broken one would fail there, not here.
        Theme::parse(text, &format!("themes/{name}.yaml"), name).ok()
    }

    /// The default theme.
    pub fn default_theme() -> Theme {
        Theme::builtin(DEFAULT_THEME).unwrap_or_else(Theme::monochrome)
    }

    /// No colours at all (`NO_COLOR`): structure from bold, reverse and dim only.
    pub fn monochrome() -> Theme {
        let plain = Style::default();
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let reverse = Style::default().add_modifier(Modifier::REVERSED);
        Theme {
            name: "no-color".into(),
            syntax: None,
            states: [plain, bold, bold, bold, plain, bold],
            diff_added: plain,
            diff_added_emphasis: Style::default().add_modifier(Modifier::UNDERLINED),
            diff_removed: plain,
            diff_removed_emphasis: Style::default().add_modifier(Modifier::UNDERLINED),
            diff_hunk_header: Style::default().add_modifier(Modifier::DIM),
            diff_gutter: Style::default().add_modifier(Modifier::DIM),
            text: plain,
            dim: Style::default().add_modifier(Modifier::DIM),
            border: plain,
            border_focused: bold,
            title: bold,
            selection: reverse,
            status_bar: reverse,
            head_mark: bold,
            live_mark: bold,
            error: bold,
            warning: bold,
        }
    }

    /// Parses a theme file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, name: &str) -> Result<Theme, ThemeError> {
        let invalid = |line: Option<usize>, message: String| ThemeError::Invalid {
            file: file.to_owned(),
            line,
            message,
        };
        let raw: RawTheme = serde_saphyr::from_str(text).map_err(|e| {
            let parsed = crate::render::documents::yaml_error(&e);
            invalid(parsed.line, parsed.message)
        })?;
        let color = |value: &Spanned<String>| -> Result<Color, ThemeError> {
            parse_color(&value.value).ok_or_else(|| {
                invalid(
                    usize::try_from(value.referenced.line()).ok().filter(|l| *l > 0),
                    format!(
                        "{:?} is not a colour; use an ANSI name (red, lightblue, darkgray...), \"#rrggbb\" or \"default\"",
                        value.value
                    ),
                )
            })
        };
        let fg = |value: &Spanned<String>| color(value).map(|c| Style::default().fg(c));
        let bg = |value: &Spanned<String>| color(value).map(|c| Style::default().bg(c));
        let s = &raw.state;
        let d = &raw.diff;
        Ok(Theme {
            name: name.to_owned(),
            syntax: Some(raw.syntax.clone()),
            states: [
                fg(&s.synced)?,
                fg(&s.drifted)?,
                fg(&s.missing)?,
                fg(&s.orphaned)?,
                fg(&s.unknown)?,
                fg(&s.error)?.add_modifier(Modifier::BOLD),
            ],
            diff_added: bg(&d.added)?,
            diff_added_emphasis: bg(&d.added_emphasis)?.add_modifier(Modifier::BOLD),
            diff_removed: bg(&d.removed)?,
            diff_removed_emphasis: bg(&d.removed_emphasis)?.add_modifier(Modifier::BOLD),
            diff_hunk_header: fg(&d.hunk_header)?,
            diff_gutter: fg(&d.gutter)?,
            text: fg(&raw.text)?,
            dim: fg(&raw.dim)?,
            border: fg(&raw.border)?,
            border_focused: fg(&raw.border_focused)?,
            title: fg(&raw.title)?.add_modifier(Modifier::BOLD),
            selection: Style::default()
                .fg(color(&raw.selection_fg)?)
                .bg(color(&raw.selection_bg)?),
            status_bar: Style::default()
                .fg(color(&raw.status_bar_fg)?)
                .bg(color(&raw.status_bar_bg)?),
            head_mark: fg(&raw.head_mark)?.add_modifier(Modifier::BOLD),
            live_mark: fg(&raw.live_mark)?.add_modifier(Modifier::BOLD),
            error: fg(&raw.error)?,
            warning: fg(&raw.warning)?,
        })
    }

    /// Loads `name_or_file`: a built-in name, a user theme in `user_dir`, or a file path.
    /// `no_color` (from `NO_COLOR`) gives [`Theme::monochrome`] whatever the name, once the
    /// name is checked.
    pub fn load(
        name_or_file: &str,
        user_dir: Option<&Path>,
        no_color: bool,
    ) -> Result<Theme, ThemeError> {
        let theme = Theme::find(name_or_file, user_dir)?;
        Ok(if no_color { Theme::monochrome() } else { theme })
    }

    fn find(name_or_file: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
        if let Some(dir) = user_dir {
            let file = dir.join(format!("{name_or_file}.yaml"));
            if file.is_file() {
                return Theme::read(&file, name_or_file);
            }
        }
        if let Some(theme) = Theme::builtin(name_or_file) {
            return Ok(theme);
        }
        let path = Path::new(name_or_file);
        if path.is_file() {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| name_or_file.to_owned());
            return Theme::read(path, &name);
        }
        Err(ThemeError::Unknown {
            name: name_or_file.to_owned(),
            dir: user_dir
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "$XDG_CONFIG_HOME/kubectl-gitops/themes".into()),
        })
    }

    fn read(file: &Path, name: &str) -> Result<Theme, ThemeError> {
        let text = std::fs::read_to_string(file).map_err(|source| ThemeError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Theme::parse(&text, &file.display().to_string(), name)
    }
}

/// Where user themes live: `$XDG_CONFIG_HOME/kubectl-gitops/themes`, else
/// `~/.config/kubectl-gitops/themes`.
pub fn user_theme_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("kubectl-gitops").join("themes"))
}

/// The theme name asked for: the flag, then `$KUBECTL_GITOPS_THEME`, then `dark`.
pub fn requested_name(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .filter(|t| !t.is_empty())
        .or_else(|| {
            std::env::var("KUBECTL_GITOPS_THEME")
                .ok()
                .filter(|t| !t.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_THEME.to_owned())
}

/// Whether `NO_COLOR` asks for no colours (set and not empty, per no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn parse_color(value: &str) -> Option<Color> {
    let value = value.trim();
    if let Some(hex) = value.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        return Some(Color::Rgb(channel(0)?, channel(2)?, channel(4)?));
    }
    Some(match value.to_ascii_lowercase().as_str() {
        "default" | "reset" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTheme {
    syntax: String,
    state: RawStates,
    diff: RawDiff,
    text: Spanned<String>,
    dim: Spanned<String>,
    border: Spanned<String>,
    border_focused: Spanned<String>,
    title: Spanned<String>,
    selection_fg: Spanned<String>,
    selection_bg: Spanned<String>,
    status_bar_fg: Spanned<String>,
    status_bar_bg: Spanned<String>,
    head_mark: Spanned<String>,
    live_mark: Spanned<String>,
    error: Spanned<String>,
    warning: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStates {
    synced: Spanned<String>,
    drifted: Spanned<String>,
    missing: Spanned<String>,
    orphaned: Spanned<String>,
    unknown: Spanned<String>,
    error: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDiff {
    added: Spanned<String>,
    added_emphasis: Spanned<String>,
    removed: Spanned<String>,
    removed_emphasis: Spanned<String>,
    hunk_header: Spanned<String>,
    gutter: Spanned<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Color as CliColor, DiffPalette};

    #[test]
    fn builtins_parse() {
        for (name, text) in BUILTIN {
            let theme = Theme::parse(text, name, name).unwrap();
            assert_eq!(theme.name, name);
        }
    }

    #[test]
    fn builtins_agree_with_the_cli_diff_colours() {
        for (name, _) in BUILTIN {
            let theme = Theme::builtin(name).unwrap();
            let palette = DiffPalette::builtin(name).unwrap();
            let rgb = |c: CliColor| match c {
                CliColor::Rgb(r, g, b) => Some(Color::Rgb(r, g, b)),
                CliColor::Ansi(_) => None,
            };
            assert_eq!(theme.diff_added.bg, rgb(palette.added), "{name}");
            assert_eq!(theme.diff_removed.bg, rgb(palette.removed), "{name}");
            assert_eq!(
                theme.diff_added_emphasis.bg,
                rgb(palette.added_emphasis),
                "{name}"
            );
            assert_eq!(
                theme.diff_removed_emphasis.bg,
                rgb(palette.removed_emphasis),
                "{name}"
            );
            assert_eq!(
                theme.syntax.as_deref(),
                Some(palette.syntax_theme),
                "{name}"
            );
        }
    }

    #[test]
    fn bad_colour_names_file_and_line() {
        let text = BUILTIN[0].1.replace("drifted: yellow", "drifted: yelow");
        let err = Theme::parse(&text, "mine.yaml", "mine").unwrap_err();
        let line = text.lines().position(|l| l.contains("yelow")).unwrap() + 1;
        assert_eq!(
            err.to_string().split(": invalid").next().unwrap(),
            format!("mine.yaml:{line}")
        );
        assert!(err.to_string().contains("yelow"), "{err}");
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = format!("{}bogus: red\n", BUILTIN[0].1);
        let err = Theme::parse(&text, "mine.yaml", "mine").unwrap_err();
        let ThemeError::Invalid { line, message, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*line, Some(text.lines().count()), "{err}");
        assert!(message.contains("bogus"), "{err}");
    }

    #[test]
    fn user_themes_shadow_builtins_and_no_color_wins() {
        let dir = tempfile::tempdir().unwrap();
        let text = BUILTIN[0].1.replace("synced: green", "synced: \"#010203\"");
        std::fs::write(dir.path().join("dark.yaml"), text).unwrap();
        let theme = Theme::load("dark", Some(dir.path()), false).unwrap();
        assert_eq!(
            theme.state(DriftState::Synced).fg,
            Some(Color::Rgb(1, 2, 3))
        );
        let theme = Theme::load("dark", Some(dir.path()), true).unwrap();
        assert_eq!(theme, Theme::monochrome());
        let err = Theme::load("nope", Some(dir.path()), false).unwrap_err();
        assert!(err.to_string().contains("nope.yaml"), "{err}");
    }
}
