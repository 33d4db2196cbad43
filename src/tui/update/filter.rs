//! The Resources pane's filter: parsing `state:`, `kind:` and words, matching rows, and
//! applying a filter while keeping the selection.

use crate::model::{DriftState, ResourceId};
use crate::ops::status::ResourceStatus;

use crate::tui::state::{Filter, State};

/// Parses filter text: `state:drifted`, `kind:deployment`, other words match kind/ns/name.
pub fn parse_filter(text: &str) -> Filter {
    let mut filter = Filter {
        text: text.to_owned(),
        ..Filter::default()
    };
    for word in text.split_whitespace() {
        let lower = word.to_lowercase();
        if let Some(state) = lower.strip_prefix("state:") {
            if let Some(s) = parse_state(state) {
                filter.states.push(s);
            } else {
                // An unknown state matches nothing rather than everything.
                filter.words.push(word.to_lowercase());
            }
        } else if let Some(kind) = lower.strip_prefix("kind:") {
            filter.kinds.push(kind.to_owned());
        } else {
            filter.words.push(lower);
        }
    }
    filter
}

pub(super) fn parse_state(text: &str) -> Option<DriftState> {
    Some(match text {
        "synced" => DriftState::Synced,
        "drifted" => DriftState::Drifted,
        "missing" => DriftState::Missing,
        "orphaned" | "orphan" => DriftState::Orphaned,
        "unknown" => DriftState::Unknown,
        "error" => DriftState::Error,
        _ => return None,
    })
}

/// Whether a row passes the filter.
pub fn matches(filter: &Filter, row: &ResourceStatus) -> bool {
    if !filter.states.is_empty() && !filter.states.contains(&row.state) {
        return false;
    }
    matches_id(filter, &row.id)
}

/// Whether an identity passes the filter's kinds and words (`state:` is about rows of an
/// evaluation: the rows under a mark have no drift state).
pub fn matches_id(filter: &Filter, id: &ResourceId) -> bool {
    if !filter.kinds.is_empty() {
        let kind = id.kind.to_lowercase();
        let group_kind = id.group_kind().to_lowercase();
        if !filter.kinds.iter().any(|k| *k == kind || *k == group_kind) {
            return false;
        }
    }
    filter.words.iter().all(|word| {
        contains_lower(&id.name, word)
            || contains_lower(&id.kind, word)
            || id
                .namespace
                .as_deref()
                .is_some_and(|ns| contains_lower(ns, word))
    })
}

pub(super) fn contains_lower(haystack: &str, lower_needle: &str) -> bool {
    haystack.to_lowercase().contains(lower_needle)
}

pub(super) fn set_filter(state: &mut State, text: &str) {
    let keep = state.selected_resource().map(|r| r.id.clone());
    let keep_marked = state
        .mark
        .as_ref()
        .and_then(|m| m.selected_resource())
        .map(|r| r.id.clone());
    state.resources.filter = parse_filter(text);
    refilter(state, keep.as_ref());
    super::mark::refilter(state, keep_marked.as_ref());
}

/// Recomputes the visible rows and keeps `keep` selected when it is still there.
pub(super) fn refilter(state: &mut State, keep: Option<&ResourceId>) {
    let Some(report) = &state.eval.report else {
        state.resources.visible.clear();
        state.resources.selected = 0;
        return;
    };
    let filter = &state.resources.filter;
    state.resources.visible = report
        .resources
        .iter()
        .enumerate()
        .filter(|(_, row)| matches(filter, row))
        .map(|(i, _)| i)
        .collect();
    // SPEC §9: by state, those needing attention first, then kind and name. The report's rows
    // come by state, kind, namespace, name; a stable sort by rank keeps the rest of that order.
    state
        .resources
        .visible
        .sort_by_key(|&i| report.resources[i].state.attention_rank());
    let found = keep.and_then(|id| {
        state
            .resources
            .visible
            .iter()
            .position(|&i| &report.resources[i].id == id)
    });
    state.resources.selected = match found {
        Some(i) => i,
        None => state
            .resources
            .selected
            .min(state.resources.visible.len().saturating_sub(1)),
    };
}
