//! Views: `impl Widget for &State` draws everything from the state, colours only from the theme.
//! Drawing never changes state; lists draw only their visible window, so a frame costs the
//! same at 50 or 50,000 rows.

use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

use crate::diff::{DiffLine, LineKind};
use crate::highlight::{self, Highlighted};
use crate::model::DriftState;
use crate::ops::history::ChangeKind;
use crate::output::short_sha;

use super::keymap;
use super::state::{
    DetailMode, DiffData, DiffLayout, InputKind, Mark, MarkRow, Pane, Popup, State,
};
use super::theme::Theme;
use super::update::resource_label;

/// Below this width the panes stack vertically.
pub const WIDE: u16 = 120;

/// The symbol of a state, shown with its colour.
pub fn state_symbol(state: DriftState) -> &'static str {
    match state {
        DriftState::Synced => "✓",
        DriftState::Drifted => "~",
        DriftState::Missing => "-",
        DriftState::Orphaned => "+",
        DriftState::Unknown => "?",
        DriftState::Error => "!",
    }
}

/// The symbol of a change between the marked commit (old) and the selected one (new).
pub fn change_symbol(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "+",
        ChangeKind::Modified => "~",
        ChangeKind::Removed => "-",
    }
}

/// The style of a change: the colour of the drift state that reads the same way (green for
/// what comes, yellow for what changes, red for what goes), so themes need no keys of its own.
fn change_style(theme: &Theme, change: ChangeKind) -> Style {
    theme.state(match change {
        ChangeKind::Added => DriftState::Synced,
        ChangeKind::Modified => DriftState::Drifted,
        ChangeKind::Removed => DriftState::Missing,
    })
}

/// A change as the Resources pane names it.
fn change_name(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "Added",
        ChangeKind::Modified => "Modified",
        ChangeKind::Removed => "Removed",
    }
}

/// Where each pane is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Areas {
    /// Title bar.
    pub title: Rect,
    /// History pane.
    pub history: Rect,
    /// Resources pane.
    pub resources: Rect,
    /// Detail pane.
    pub detail: Rect,
    /// Status bar.
    pub status: Rect,
}

/// The layout for a terminal of `area`: side by side when wide, stacked when narrow.
pub fn areas(state: &State, area: Rect) -> Areas {
    let [title, main, status] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ]));
    let [history, resources, detail] = if area.width >= WIDE {
        let left_width = (area.width * 2 / 5).max(50);
        let [left, detail] = main.layout(&Layout::horizontal([
            Constraint::Length(left_width),
            Constraint::Min(0),
        ]));
        let [history, resources] = left.layout(&Layout::vertical([
            Constraint::Percentage(40),
            Constraint::Min(0),
        ]));
        [history, resources, detail]
    } else {
        // Stacked: the focused pane gets the room.
        let (h, r) = match state.focus {
            Pane::History => (main.height / 3, main.height / 3),
            Pane::Resources => (main.height / 4, main.height * 5 / 12),
            Pane::Detail => (3.min(main.height), main.height / 4),
        };
        main.layout(&Layout::vertical([
            Constraint::Length(h),
            Constraint::Length(r),
            Constraint::Min(0),
        ]))
    };
    Areas {
        title,
        history,
        resources,
        detail,
        status,
    }
}

impl Widget for &State {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let areas = areas(self, area);
        buf.set_style(area, self.theme.text);
        title_bar(self, areas.title, buf);
        history_pane(self, areas.history, buf);
        resources_pane(self, areas.resources, buf);
        detail_pane(self, areas.detail, buf);
        status_bar(self, areas.status, buf);
        if let Some(popup) = &self.popup {
            popup_view(self, popup, area, buf);
        }
    }
}

fn pane_block<'a>(state: &State, pane: Pane, title: Line<'a>) -> Block<'a> {
    let theme = &state.theme;
    let focused = state.focus == pane;
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.border_focused
        } else {
            theme.border
        })
        .title(title.style(theme.title))
}

fn title_bar(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    let loc = &state.location;
    let path = if loc.path.is_empty() { "." } else { &loc.path };
    let mut spans = vec![
        Span::styled(" kubectl gitops ", theme.title),
        Span::styled(format!("{}:{path}", loc.repo), theme.text),
        Span::styled(format!("  rev {}", loc.rev), theme.dim),
    ];
    if !loc.context.is_empty() {
        spans.push(Span::styled(format!("  ctx {}", loc.context), theme.dim));
    }
    if let Some(ns) = &loc.namespace {
        spans.push(Span::styled(format!("  ns {ns}"), theme.dim));
    }
    if state.read_only {
        spans.push(Span::styled("  [read-only]", theme.warning));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// First row to show so `selected` stays in view, roughly centred.
fn window(selected: usize, len: usize, height: usize) -> Range<usize> {
    if height == 0 || len == 0 {
        return 0..0;
    }
    let start = if len <= height {
        0
    } else {
        selected.saturating_sub(height / 2).min(len - height)
    };
    start..(start + height).min(len)
}

fn history_pane(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    let h = &state.history;
    let loading = if h.loading { " (walking…)" } else { "" };
    let mut title = vec![Span::raw(format!(
        " History · {} commits{loading}",
        h.commits.len()
    ))];
    if let Some(mark) = &state.mark {
        title.push(Span::styled(
            format!(" · mark {}", short_sha(&mark.commit)),
            theme.warning,
        ));
    }
    title.push(Span::raw(" "));
    let title = Line::from(title);
    let block = pane_block(state, Pane::History, title);
    let inner = block.inner(area);
    block.render(area, buf);
    if let Some(error) = &h.error {
        Paragraph::new(error.as_str())
            .style(theme.error)
            .wrap(Wrap { trim: false })
            .render(inner, buf);
        return;
    }
    let shown = window(h.selected, h.commits.len(), inner.height as usize);
    let lines: Vec<Line> = h.commits[shown.clone()]
        .iter()
        .enumerate()
        .map(|(i, commit)| {
            let index = shown.start + i;
            let mut spans = vec![
                Span::styled(format!("{} ", short_sha(&commit.id)), theme.dim),
                Span::styled(
                    format!("{} ", commit.time.get(..10).unwrap_or(&commit.time)),
                    theme.dim,
                ),
            ];
            if h.head.as_deref() == Some(commit.id.as_str()) {
                spans.push(Span::styled("HEAD ", theme.head_mark));
            }
            if state.eval.live_commit.as_deref() == Some(commit.id.as_str()) {
                spans.push(Span::styled("live ", theme.live_mark));
            }
            if state.mark.as_ref().is_some_and(|m| m.commit == commit.id) {
                spans.push(Span::styled(
                    "mark ",
                    theme.warning.add_modifier(Modifier::BOLD),
                ));
            }
            spans.push(Span::styled(commit.summary.clone(), theme.text));
            with_selection(state, Pane::History, Line::from(spans), index == h.selected)
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}

/// `line` of `pane`, in the selected row's style when `selected`: full selection in the focused
/// pane, reversed dim elsewhere.
fn with_selection<'a>(state: &State, pane: Pane, line: Line<'a>, selected: bool) -> Line<'a> {
    if !selected {
        line
    } else if state.focus == pane {
        line.style(state.theme.selection)
    } else {
        line.style(Style::default().add_modifier(Modifier::REVERSED))
    }
}

fn resources_pane(state: &State, area: Rect, buf: &mut Buffer) {
    if let Some(mark) = &state.mark {
        return marked_resources_pane(state, mark, area, buf);
    }
    let theme = &state.theme;
    let eval = &state.eval;
    let mut title = vec![Span::raw(" Resources")];
    if let Some(report) = &eval.report {
        title.push(Span::raw(format!(" @{}", short_sha(&report.revision.id))));
        for (s, n) in report.summary() {
            title.push(Span::styled(
                format!(" {}{n}", state_symbol(s)),
                theme.state(s),
            ));
        }
        let filter = &state.resources.filter;
        if !filter.text.is_empty() {
            title.push(Span::raw(format!(
                " · {} shown /{}",
                state.resources.visible.len(),
                filter.text
            )));
        }
    }
    let progress = if eval.loading {
        " evaluating…"
    } else if eval.refining {
        " refining…"
    } else {
        ""
    };
    title.push(Span::styled(progress, theme.dim));
    title.push(Span::raw(" "));
    let block = pane_block(state, Pane::Resources, Line::from(title));
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(report) = &eval.report else {
        let text = match &eval.error {
            Some(error) => Paragraph::new(error.as_str()).style(theme.error),
            None => Paragraph::new(format!("evaluating {}…", eval.rev)).style(theme.dim),
        };
        text.wrap(Wrap { trim: false }).render(inner, buf);
        return;
    };
    if state.resources.visible.is_empty() {
        let text = if report.resources.is_empty() {
            "no resources at this commit"
        } else {
            "no resource matches the filter (Esc clears it)"
        };
        Paragraph::new(text).style(theme.dim).render(inner, buf);
        return;
    }
    let visible = &state.resources.visible;
    let shown = window(
        state.resources.selected,
        visible.len(),
        inner.height as usize,
    );
    let kind_width = visible[shown.clone()]
        .iter()
        .map(|&i| report.resources[i].id.kind.len())
        .max()
        .unwrap_or(4)
        .min(22);
    let shown_name = |row: &crate::ops::status::ResourceStatus| match &row.id.namespace {
        Some(ns) => format!("{ns}/{}", row.id.name),
        None => row.id.name.clone(),
    };
    // The OWNER column (SPEC §11) when a shown row has one, last: names and field counts
    // padded to line it up, and a narrow pane cuts the owner rather than the counts.
    let owners: Vec<Option<String>> = visible[shown.clone()]
        .iter()
        .map(|&i| report.resources[i].owner.as_ref().map(ToString::to_string))
        .collect();
    let with_owners = owners.iter().any(Option::is_some);
    let fields_text = |row: &crate::ops::status::ResourceStatus| match row.fields.len() {
        0 => String::new(),
        1 => "1 field".to_owned(),
        n => format!("{n} fields"),
    };
    let name_width = visible[shown.clone()]
        .iter()
        .map(|&i| shown_name(&report.resources[i]).len())
        .max()
        .unwrap_or(0)
        .min(40);
    let fields_width = visible[shown.clone()]
        .iter()
        .map(|&i| fields_text(&report.resources[i]).len())
        .max()
        .unwrap_or(0);
    let with_render_errors = visible[shown.clone()]
        .iter()
        .any(|&i| report.resources[i].render_error.is_some());
    let lines: Vec<Line> = visible[shown.clone()]
        .iter()
        .enumerate()
        .map(|(i, &row_index)| {
            let row = &report.resources[row_index];
            let mut name = shown_name(row);
            if with_owners {
                name = format!("{name:<name_width$}");
            }
            let mut spans = vec![
                Span::styled(
                    format!(
                        "{} {:<8} ",
                        state_symbol(row.state),
                        format!("{:?}", row.state)
                    ),
                    theme.state(row.state),
                ),
                Span::styled(format!("{:<kind_width$} ", row.id.kind), theme.dim),
                Span::styled(name, theme.text),
            ];
            // A column of `!` when a shown row's file or owner did not render (its message
            // heads the Detail pane).
            if with_render_errors {
                let mark = if row.render_error.is_some() {
                    "! "
                } else {
                    "  "
                };
                spans.insert(1, Span::styled(mark, theme.error));
            }
            let fields = fields_text(row);
            if with_owners {
                if fields_width > 0 {
                    spans.push(Span::styled(
                        format!("  {fields:<fields_width$}"),
                        theme.dim,
                    ));
                }
                let owner = owners[i].as_deref().unwrap_or("-");
                spans.push(Span::styled(format!("  {owner}"), theme.dim));
            } else if !fields.is_empty() {
                spans.push(Span::styled(format!("  {fields}"), theme.dim));
            }
            with_selection(
                state,
                Pane::Resources,
                Line::from(spans),
                shown.start + i == state.resources.selected,
            )
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}

/// The Resources pane under a mark: what differs between the marked and the selected commit,
/// render errors first, then removed, modified and added resources.
fn marked_resources_pane(state: &State, mark: &Mark, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    let mut title = vec![Span::raw(format!(
        " Resources {} → {}",
        short_sha(&mark.commit),
        short_sha(&mark.rev)
    ))];
    if let Some(diff) = &mark.diff {
        if !diff.render_errors.is_empty() {
            title.push(Span::styled(
                format!(" !{}", diff.render_errors.len()),
                theme.state(DriftState::Error),
            ));
        }
        for (change, n) in diff.counts() {
            if n > 0 {
                title.push(Span::styled(
                    format!(" {}{n}", change_symbol(change)),
                    change_style(theme, change),
                ));
            }
        }
        let filter = &state.resources.filter;
        if !filter.text.is_empty() {
            title.push(Span::raw(format!(
                " · {} shown /{}",
                mark.rows.len(),
                filter.text
            )));
        }
    }
    if mark.loading {
        title.push(Span::styled(" comparing…", theme.dim));
    }
    title.push(Span::raw(" "));
    let block = pane_block(state, Pane::Resources, Line::from(title));
    let inner = block.inner(area);
    block.render(area, buf);
    let message = if let Some(error) = &mark.error {
        Some(Paragraph::new(error.as_str()).style(theme.error))
    } else if mark.on_itself() {
        Some(
            Paragraph::new(format!(
                "marked {}: select another commit in History to see what changed between \
                 the two (m on the mark or Esc in History clears it)",
                short_sha(&mark.commit)
            ))
            .style(theme.dim),
        )
    } else if let Some(diff) = &mark.diff {
        match (mark.rows.is_empty(), diff.resources.is_empty()) {
            (false, _) => None,
            (true, true) => {
                Some(Paragraph::new("no resource differs between the two commits").style(theme.dim))
            }
            (true, false) => Some(
                Paragraph::new("no resource matches the filter (Esc clears it)").style(theme.dim),
            ),
        }
    } else {
        Some(
            Paragraph::new(format!(
                "comparing {} → {}…",
                short_sha(&mark.commit),
                short_sha(&mark.rev)
            ))
            .style(theme.dim),
        )
    };
    if let Some(message) = message {
        message.wrap(Wrap { trim: false }).render(inner, buf);
        return;
    }
    let Some(diff) = &mark.diff else {
        return;
    };
    let shown = window(mark.selected, mark.rows.len(), inner.height as usize);
    let kind_width = mark.rows[shown.clone()]
        .iter()
        .filter_map(|&row| mark.resource(row))
        .map(|r| r.id.kind.len())
        .max()
        .unwrap_or(4)
        .min(22);
    let lines: Vec<Line> = mark.rows[shown.clone()]
        .iter()
        .enumerate()
        .map(|(i, &row)| {
            let spans = match row {
                MarkRow::RenderError(e) => vec![
                    Span::styled(
                        format!("{} {:<8} ", state_symbol(DriftState::Error), "Error"),
                        theme.state(DriftState::Error),
                    ),
                    Span::styled(
                        diff.render_errors.get(e).cloned().unwrap_or_default(),
                        theme.text,
                    ),
                ],
                MarkRow::Changed(_) => {
                    let Some(r) = mark.resource(row) else {
                        return Line::default();
                    };
                    let name = match &r.id.namespace {
                        Some(ns) => format!("{ns}/{}", r.id.name),
                        None => r.id.name.clone(),
                    };
                    let mut spans = vec![
                        Span::styled(
                            format!("{} {:<8} ", change_symbol(r.change), change_name(r.change)),
                            change_style(theme, r.change),
                        ),
                        Span::styled(format!("{:<kind_width$} ", r.id.kind), theme.dim),
                        Span::styled(name, theme.text),
                    ];
                    if r.change == ChangeKind::Modified {
                        let fields = match r.changes.len() {
                            1 => "1 field".to_owned(),
                            n => format!("{n} fields"),
                        };
                        spans.push(Span::styled(format!("  {fields}"), theme.dim));
                    }
                    spans
                }
            };
            with_selection(
                state,
                Pane::Resources,
                Line::from(spans),
                shown.start + i == mark.selected,
            )
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}

/// The Detail pane's diff under a mark: the selected resource at the mark (left) against the
/// selected commit (right), or why there is none.
fn marked_detail(state: &State, mark: &Mark, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    let error_row = match (mark.selected_row(), &mark.diff) {
        (Some(MarkRow::RenderError(e)), Some(diff)) => diff.render_errors.get(e),
        _ => None,
    };
    let message = if let Some(error) = error_row.or(mark.error.as_ref()) {
        Paragraph::new(error.as_str()).style(theme.error)
    } else if mark.loading {
        Paragraph::new("comparing…").style(theme.dim)
    } else if let Some(diff) = &state.detail.diff {
        return diff_view(state, diff, area, buf);
    } else {
        return;
    };
    message.wrap(Wrap { trim: false }).render(area, buf);
}

fn detail_pane(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    let row = state.selected_resource();
    let on_error_row = state
        .mark
        .as_ref()
        .is_some_and(|m| matches!(m.selected_row(), Some(MarkRow::RenderError(_))));
    let what = match state.detail_resource() {
        Some(id) => resource_label(id),
        None if on_error_row => "render error".into(),
        None => "no resource".into(),
    };
    let rev = short_sha(&state.shown_revision()).to_owned();
    let layout = match state.detail.layout {
        DiffLayout::SideBySide => "side by side",
        DiffLayout::Unified => "unified",
    };
    let title = match (&state.mark, state.detail.mode) {
        (Some(mark), DetailMode::Diff) => format!(
            " Diff git@{} → git@{} · {what} · {layout} ",
            short_sha(&mark.commit),
            short_sha(&mark.rev)
        ),
        (_, DetailMode::Diff) => format!(" Diff live → git@{rev} · {what} · {layout} "),
        (_, DetailMode::Blame { live: false }) => format!(" Blame git@{rev} · {what} "),
        (_, DetailMode::Blame { live: true }) => format!(" Blame live · {what} "),
        (_, DetailMode::History) => format!(" History · {what} "),
    };
    let block = pane_block(state, Pane::Detail, Line::from(title));
    let inner = block.inner(area);
    block.render(area, buf);
    if let Some(mark) = &state.mark {
        match state.detail.mode {
            DetailMode::Diff => marked_detail(state, mark, inner, buf),
            DetailMode::Blame { .. } | DetailMode::History => detail_lines(state, inner, buf),
        }
        return;
    }
    let Some(row) = row else {
        return;
    };
    match state.detail.mode {
        DetailMode::Diff => {
            let mut notes: Vec<Line> = Vec::new();
            if let Some(error) = &row.render_error {
                notes.push(Line::styled(format!("render error: {error}"), theme.error));
            }
            if let Some(error) = &row.error {
                notes.push(Line::styled(error.clone(), theme.error));
            }
            for note in &row.notes {
                notes.push(Line::styled(note.clone(), theme.warning));
            }
            let [notes_area, diff_area] = inner.layout(&Layout::vertical([
                Constraint::Length(notes.len().min(3) as u16),
                Constraint::Min(0),
            ]));
            Paragraph::new(notes).render(notes_area, buf);
            if let Some(diff) = &state.detail.diff {
                diff_view(state, diff, diff_area, buf);
            } else if state.detail.texts.loading {
                Paragraph::new("loading the diff…")
                    .style(theme.dim)
                    .render(diff_area, buf);
            } else if let Some(error) = &state.detail.texts.error {
                Paragraph::new(error.as_str())
                    .style(theme.error)
                    .wrap(Wrap { trim: false })
                    .render(diff_area, buf);
            }
        }
        DetailMode::Blame { .. } | DetailMode::History => detail_lines(state, inner, buf),
    }
}

fn detail_lines(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    match &state.detail.lines {
        None => Paragraph::new("loading…")
            .style(theme.dim)
            .render(area, buf),
        Some(Err(error)) => Paragraph::new(error.as_str())
            .style(theme.error)
            .wrap(Wrap { trim: false })
            .render(area, buf),
        Some(Ok(lines)) => {
            let shown = window(state.detail.cursor, lines.len(), area.height as usize);
            let gutter = lines
                .iter()
                .map(|l| l.gutter.chars().count())
                .max()
                .unwrap_or(0);
            let rendered: Vec<Line> = lines[shown.clone()]
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mark_style = match l.mark {
                        '~' => theme.state(DriftState::Drifted),
                        '-' => theme.state(DriftState::Missing),
                        '+' => theme.state(DriftState::Orphaned),
                        _ => theme.dim,
                    };
                    with_selection(
                        state,
                        Pane::Detail,
                        Line::from(vec![
                            Span::styled(format!("{:<gutter$} ", l.gutter), theme.dim),
                            Span::styled(format!("{} ", l.mark), mark_style),
                            Span::styled(l.text.clone(), theme.text),
                        ]),
                        shown.start + i == state.detail.cursor,
                    )
                })
                .collect();
            Paragraph::new(rendered).render(area, buf);
        }
    }
}

/// A row of the diff view: a hunk header, or lines on the left and right.
enum Row<'a> {
    Header(String),
    Pair(Option<&'a DiffLine>, Option<&'a DiffLine>),
    Plain(usize, &'a str),
}

fn diff_rows<'a>(diff: &'a DiffData, layout: DiffLayout) -> Vec<Row<'a>> {
    if diff.hunks.is_empty() {
        return diff
            .desired
            .lines()
            .enumerate()
            .map(|(i, text)| Row::Plain(i, text))
            .collect();
    }
    let mut rows = Vec::new();
    for hunk in &diff.hunks {
        rows.push(Row::Header(hunk.header()));
        match layout {
            DiffLayout::SideBySide => rows.extend(
                crate::diff::side_by_side(hunk)
                    .into_iter()
                    .map(|r| Row::Pair(r.left, r.right)),
            ),
            DiffLayout::Unified => rows.extend(hunk.lines.iter().map(|l| match l.kind {
                LineKind::Removed => Row::Pair(Some(l), None),
                _ => Row::Pair(None, Some(l)),
            })),
        }
    }
    rows
}

fn diff_view(state: &State, diff: &DiffData, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    // Until the colours arrive (a moment after the selection moved) the text is plain.
    let (live_hl, desired_hl) = match (&diff.highlighted, &theme.syntax) {
        (Some((live, desired)), Some(_)) => (Some(live), Some(desired)),
        _ => (None, None),
    };
    let rows = diff_rows(diff, state.detail.layout);
    let start = state.detail.scroll.min(rows.len().saturating_sub(1));
    let end = (start + area.height as usize).min(rows.len());
    let rows = &rows[start..end];
    let painter = Painter {
        theme,
        live: live_hl,
        desired: desired_hl,
    };
    match state.detail.layout {
        DiffLayout::SideBySide => {
            let [left, separator, right] = area.layout(&Layout::horizontal([
                Constraint::Percentage(50),
                Constraint::Length(1),
                Constraint::Min(0),
            ]));
            let mut left_lines = Vec::new();
            let mut right_lines = Vec::new();
            for row in rows {
                match row {
                    Row::Header(h) => {
                        left_lines.push(Line::styled(h.clone(), theme.diff_hunk_header));
                        right_lines.push(Line::styled(h.clone(), theme.diff_hunk_header));
                    }
                    Row::Pair(l, r) => {
                        left_lines.push(painter.side(*l, Side::Live, left.width));
                        right_lines.push(painter.side(*r, Side::Desired, right.width));
                    }
                    Row::Plain(i, text) => {
                        left_lines.push(painter.plain(*i, text, Side::Live));
                        right_lines.push(painter.plain(*i, text, Side::Desired));
                    }
                }
            }
            Paragraph::new(left_lines).render(left, buf);
            let bar: Vec<Line> = (0..rows.len())
                .map(|_| Line::styled("│", theme.diff_gutter))
                .collect();
            Paragraph::new(bar).render(separator, buf);
            Paragraph::new(right_lines).render(right, buf);
        }
        DiffLayout::Unified => {
            let lines: Vec<Line> = rows
                .iter()
                .map(|row| match row {
                    Row::Header(h) => Line::styled(h.clone(), theme.diff_hunk_header),
                    Row::Pair(Some(l), _) => painter.unified(l, area.width),
                    Row::Pair(None, Some(r)) => painter.unified(r, area.width),
                    Row::Pair(None, None) => Line::default(),
                    Row::Plain(i, text) => painter.plain(*i, text, Side::Desired),
                })
                .collect();
            Paragraph::new(lines).render(area, buf);
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Live,
    Desired,
}

struct Painter<'a> {
    theme: &'a Theme,
    live: Option<&'a Highlighted>,
    desired: Option<&'a Highlighted>,
}

impl Painter<'_> {
    fn syntax(&self, line: &DiffLine, side: Side) -> &[highlight::Span] {
        let (hl, index) = match side {
            Side::Live => (self.live, line.old_index),
            Side::Desired => (self.desired, line.new_index),
        };
        match (hl, index) {
            (Some(hl), Some(i)) => hl.get(i).map(Vec::as_slice).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// A left or right cell: line number, text in syntax colours on the change background,
    /// changed words emphasized; the background fills the cell.
    fn side(&self, line: Option<&DiffLine>, side: Side, width: u16) -> Line<'static> {
        let Some(line) = line else {
            return Line::default();
        };
        let number = match side {
            Side::Live => line.old_index,
            Side::Desired => line.new_index,
        };
        let gutter = vec![Span::styled(
            format!("{:>4} ", number.map(|n| n + 1).unwrap_or(0)),
            self.theme.diff_gutter,
        )];
        self.gutter_and_text(gutter, 5, line, side, width)
    }

    fn unified(&self, line: &DiffLine, width: u16) -> Line<'static> {
        let side = if line.kind == LineKind::Removed {
            Side::Live
        } else {
            Side::Desired
        };
        let (base, _) = self.change_styles(line.kind);
        let number = |n: Option<usize>| n.map(|n| format!("{:>4}", n + 1)).unwrap_or("    ".into());
        let gutter = vec![
            Span::styled(
                format!("{} {} ", number(line.old_index), number(line.new_index)),
                self.theme.diff_gutter,
            ),
            Span::styled(crate::diff::sign(line.kind).to_string(), base),
        ];
        self.gutter_and_text(gutter, 11 + 1, line, side, width)
    }

    /// The change background of `kind` and the style of its changed words.
    fn change_styles(&self, kind: LineKind) -> (Style, Style) {
        let theme = self.theme;
        match kind {
            LineKind::Context => (Style::default(), Style::default()),
            LineKind::Removed => (theme.diff_removed, theme.diff_removed_emphasis),
            LineKind::Added => (theme.diff_added, theme.diff_added_emphasis),
        }
    }

    /// `gutter` (counted as `gutter_width` columns), then `line`'s text in `side`'s syntax
    /// colours on its change background, changed words emphasized; a changed line's background
    /// fills `width`.
    fn gutter_and_text(
        &self,
        mut gutter: Vec<Span<'static>>,
        gutter_width: usize,
        line: &DiffLine,
        side: Side,
        width: u16,
    ) -> Line<'static> {
        let (base, emphasis) = self.change_styles(line.kind);
        gutter.extend(styled_text(
            &line.text,
            self.syntax(line, side),
            base,
            &line.emphasis,
            emphasis,
        ));
        let used = gutter_width + unicode_width::UnicodeWidthStr::width(line.text.as_str());
        if line.kind != LineKind::Context && (width as usize) > used {
            gutter.push(Span::styled(" ".repeat(width as usize - used), base));
        }
        Line::from(gutter)
    }

    fn plain(&self, index: usize, text: &str, side: Side) -> Line<'static> {
        let hl = match side {
            Side::Live => self.live,
            Side::Desired => self.desired,
        };
        let syntax = hl
            .and_then(|hl| hl.get(index))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut spans = vec![Span::styled(
            format!("{:>4} ", index + 1),
            self.theme.diff_gutter,
        )];
        spans.extend(styled_text(
            text,
            syntax,
            Style::default(),
            &[],
            Style::default(),
        ));
        Line::from(spans)
    }
}

/// `text` cut at every syntax-colour and emphasis boundary: syntax gives the foreground,
/// `base` or (inside an emphasized range) `emphasis` the background.
fn styled_text(
    text: &str,
    syntax: &[highlight::Span],
    base: Style,
    emphasized: &[Range<usize>],
    emphasis: Style,
) -> Vec<Span<'static>> {
    let mut cuts: Vec<usize> = vec![0, text.len()];
    for s in syntax {
        cuts.push(s.start.min(text.len()));
        cuts.push(s.end.min(text.len()));
    }
    for r in emphasized {
        cuts.push(r.start.min(text.len()));
        cuts.push(r.end.min(text.len()));
    }
    cuts.retain(|&c| text.is_char_boundary(c));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let mut style = if emphasized.iter().any(|r| r.start <= a && b <= r.end) {
                base.patch(emphasis)
            } else {
                base
            };
            if let Some(s) = syntax.iter().find(|s| s.start <= a && b <= s.end) {
                style = style.fg(Color::Rgb(s.fg.0, s.fg.1, s.fg.2));
                if s.bold {
                    style = style.add_modifier(Modifier::BOLD);
                }
            }
            Span::styled(text[a..b].to_owned(), style)
        })
        .collect()
}

fn status_bar(state: &State, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    buf.set_style(area, theme.status_bar);
    let line = if let Some(input) = &state.input {
        let prefix = match input.kind {
            InputKind::Filter => "/",
            InputKind::Command => ":",
        };
        Line::from(vec![
            Span::raw(format!("{prefix}{}", input.text)),
            Span::styled("▏", theme.status_bar.add_modifier(Modifier::SLOW_BLINK)),
        ])
    } else if let Some(status) = &state.status {
        let style = if status.error {
            theme
                .status_bar
                .patch(theme.error)
                .bg(theme.status_bar.bg.unwrap_or(Color::Reset))
        } else {
            theme.status_bar
        };
        Line::styled(status.text.clone(), style)
    } else {
        // The most useful hints first; as many as fit.
        let mut hints: Vec<String> = vec!["? help".into(), "q quit".into()];
        if let Some(mark) = &state.mark {
            hints.push(format!(
                "mark {} → {}: Esc in History clears",
                short_sha(&mark.commit),
                short_sha(&mark.rev)
            ));
        }
        if state.read_only {
            hints.push("read-only: s S R disabled".into());
        } else {
            hints.extend(["s sync", "S sync all", "R revert"].map(String::from));
        }
        hints.extend(
            [
                "/ filter",
                ": cmd",
                "Tab pane",
                "d layout",
                "b blame",
                "h history",
                "Enter open",
            ]
            .map(String::from),
        );
        if state.mark.is_none() {
            hints.push("m mark".into());
        }
        let mut text = String::new();
        for hint in &hints {
            if text.chars().count() + hint.chars().count() + 2 > area.width as usize {
                break;
            }
            text.push_str("  ");
            text.push_str(hint);
        }
        Line::from(text)
    };
    Paragraph::new(line)
        .style(theme.status_bar)
        .render(area, buf);
    if let Some(busy) = &state.busy {
        let text = format!(" {busy}… ");
        let width = text.chars().count() as u16;
        if area.width > width {
            let right = Rect {
                x: area.x + area.width - width,
                width,
                ..area
            };
            Paragraph::new(text)
                .style(theme.status_bar.patch(theme.warning))
                .render(right, buf);
        }
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

fn popup_view(state: &State, popup: &Popup, area: Rect, buf: &mut Buffer) {
    let theme = &state.theme;
    let (title, lines, border): (String, Vec<Line>, Style) = match popup {
        Popup::Help => {
            let lines = keymap::help_lines(state.read_only)
                .into_iter()
                .map(|(key, help)| {
                    Line::from(vec![
                        Span::styled(format!(" {key}  "), theme.title),
                        Span::styled(help, theme.text),
                    ])
                })
                .chain([Line::styled(" any key closes", theme.dim)])
                .collect();
            (" Keys ".into(), lines, theme.border_focused)
        }
        Popup::Confirm(confirm) => {
            let mut lines: Vec<Line> = confirm
                .lines
                .iter()
                .map(|l| Line::styled(format!(" {l}"), theme.text))
                .collect();
            lines.push(Line::default());
            lines.push(Line::styled(format!(" {}", confirm.prompt), theme.title));
            (format!(" {} ", confirm.title), lines, theme.warning)
        }
        Popup::Message {
            title,
            lines,
            error,
        } => {
            let style = if *error { theme.error } else { theme.text };
            let mut lines: Vec<Line> = lines
                .iter()
                .map(|l| Line::styled(format!(" {l}"), style))
                .collect();
            lines.push(Line::styled(" any key closes", theme.dim));
            (
                format!(" {title} "),
                lines,
                if *error {
                    theme.error
                } else {
                    theme.border_focused
                },
            )
        }
    };
    // Help taller than the screen goes into two columns.
    let room = area.height.saturating_sub(2) as usize;
    let lines = if matches!(popup, Popup::Help) && lines.len() + 2 > room {
        two_columns(lines)
    } else {
        lines
    };
    let width = lines
        .iter()
        .map(|l| l.width())
        .max()
        .unwrap_or(20)
        .max(title.chars().count())
        .saturating_add(3)
        .min(area.width.saturating_sub(4) as usize) as u16;
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let wrapped: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let height = (wrapped as u16 + 2).min(area.height.saturating_sub(2));
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Line::styled(title, theme.title))
        .style(theme.text);
    let inner = block.inner(rect);
    block.render(rect, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

/// Lines side by side in two columns, the first column padded to its widest line.
fn two_columns(lines: Vec<Line<'_>>) -> Vec<Line<'_>> {
    let half = lines.len().div_ceil(2);
    let width = lines[..half].iter().map(Line::width).max().unwrap_or(0);
    let mut right = lines[half..].iter().cloned();
    lines[..half]
        .iter()
        .map(|left| {
            let mut spans = left.spans.clone();
            spans.push(Span::raw(" ".repeat(width - left.width() + 1)));
            if let Some(r) = right.next() {
                spans.extend(r.spans);
            }
            Line::from(spans)
        })
        .collect()
}
