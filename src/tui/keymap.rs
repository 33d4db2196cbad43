//! The keymap as data: key → [`Action`]. The `?` help is generated from it.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::state::{InputKind, Popup, State};

/// One binding: the keys, how help writes them, what they do.
#[derive(Debug, Clone)]
pub struct Binding {
    /// Keys (without modifiers unless `ctrl`).
    pub keys: &'static [KeyCode],
    /// With Ctrl held.
    pub ctrl: bool,
    /// How help shows the keys.
    pub label: &'static str,
    /// The action.
    pub action: Action,
    /// What it does, for help.
    pub help: &'static str,
    /// A write: disabled by `--read-only`.
    pub writes: bool,
}

const fn bind(
    keys: &'static [KeyCode],
    label: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        ctrl: false,
        label,
        action,
        help,
        writes: false,
    }
}

const fn write(
    keys: &'static [KeyCode],
    label: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        ctrl: false,
        label,
        action,
        help,
        writes: true,
    }
}

/// The bindings of the main view, in help order.
pub fn bindings() -> &'static [Binding] {
    use KeyCode::*;
    static BINDINGS: std::sync::OnceLock<Vec<Binding>> = std::sync::OnceLock::new();
    BINDINGS.get_or_init(|| {
        vec![
            bind(
                &[Char('j'), Down],
                "j/↓",
                Action::Down,
                "next row / scroll down",
            ),
            bind(&[Char('k'), Up], "k/↑", Action::Up, "previous row"),
            bind(&[PageDown], "PgDn", Action::PageDown, "page down"),
            bind(&[PageUp], "PgUp", Action::PageUp, "page up"),
            bind(&[Char('g'), Home], "g/Home", Action::Top, "first row"),
            bind(&[Char('G'), End], "G/End", Action::Bottom, "last row"),
            bind(&[Tab], "Tab", Action::NextPane, "next pane"),
            bind(&[BackTab], "S-Tab", Action::PrevPane, "previous pane"),
            bind(&[Enter], "Enter", Action::Enter, "drill in / open commit"),
            // Esc undoes the innermost thing first: the input line, a popup, blame/history in
            // Detail, the filter in Resources, then the pane (Detail → Resources → History);
            // in History, where there is nowhere to go back to, it clears the mark.
            bind(&[Esc], "Esc", Action::Back, "back; in History: unmark"),
            bind(
                &[Char('m')],
                "m",
                Action::ToggleMark,
                "mark commit; again: unmark",
            ),
            bind(
                &[Char('d')],
                "d",
                Action::ToggleLayout,
                "diff side by side / unified",
            ),
            bind(
                &[Char('b')],
                "b",
                Action::ToggleBlame,
                "blame; again: git / live",
            ),
            bind(
                &[Char('h')],
                "h",
                Action::ResourceHistory,
                "resource history",
            ),
            write(
                &[Char('s')],
                "s",
                Action::SyncResource,
                "sync resource to commit",
            ),
            write(
                &[Char('S')],
                "S",
                Action::SyncAll,
                "sync all (rollback if older)",
            ),
            write(
                &[Char('R')],
                "R",
                Action::RevertCommit,
                "revert commit in git",
            ),
            bind(
                &[Char('/')],
                "/",
                Action::StartFilter,
                "filter: text state: kind:",
            ),
            bind(
                &[Char(':')],
                ":",
                Action::StartCommand,
                "command: ctx ns rev theme q",
            ),
            bind(&[Char('r')], "r", Action::Refresh, "refresh"),
            bind(&[Char('?')], "?", Action::Help, "this help"),
            bind(&[Char('q')], "q", Action::Quit, "quit"),
            Binding {
                keys: &[Char('c')],
                ctrl: true,
                label: "C-c",
                action: Action::Quit,
                help: "quit",
                writes: false,
            },
        ]
    })
}

/// The action for a key in the current state: popups and the input line take keys first.
pub fn action_for(state: &State, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if state.input.is_some() {
        return match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::InputSubmit),
            KeyCode::Backspace => Some(Action::InputBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::InputChar(c)),
            _ => None,
        };
    }
    match &state.popup {
        Some(Popup::Confirm(_)) => {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => Some(Action::Confirm),
                KeyCode::Char('a') | KeyCode::Char('A') => Some(Action::ConfirmAndSync),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                    Some(Action::Back)
                }
                _ => None,
            };
        }
        Some(_) => return Some(Action::Back),
        None => {}
    }
    bindings()
        .iter()
        .find(|b| b.ctrl == ctrl && b.keys.contains(&key.code))
        .map(|b| b.action.clone())
}

/// Help lines: `label  description`, writes marked when read-only.
pub fn help_lines(read_only: bool) -> Vec<(String, String)> {
    let width = bindings()
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    bindings()
        .iter()
        .map(|b| {
            let help = if b.writes && read_only {
                format!("{} (off: read-only)", b.help)
            } else {
                b.help.to_owned()
            };
            (format!("{:width$}", b.label), help)
        })
        .collect()
}

/// Whether `input` is the kind being typed.
pub fn typing(state: &State, kind: InputKind) -> bool {
    state.input.as_ref().is_some_and(|i| i.kind == kind)
}
