//! The reducer, table-driven: actions in, state and effects out, no I/O (STYLE §3).

mod tui_fixture;

use std::sync::Arc;

use kubectl_gitops::drift::Strategy;
use kubectl_gitops::model::DriftState;
use kubectl_gitops::tui::action::{Action, Effect};
use kubectl_gitops::tui::state::{
    DetailMode, DiffLayout, InputKind, MarkRow, Pane, Pending, Popup, State,
};
use kubectl_gitops::tui::theme::Theme;
use kubectl_gitops::tui::update::{parse_filter, update};
use tui_fixture::{
    SHAS, commits, comparisons, eval_request, fresh, history_request, loaded, marked, report,
    revision_diff,
};

fn theme() -> Theme {
    Theme::default_theme()
}

fn selected_name(state: &State) -> Option<String> {
    state.selected_resource().map(|r| r.id.name.clone())
}

fn evaluates(effects: &[Effect]) -> Vec<(String, Strategy)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Evaluate { rev, strategy, .. } => Some((rev.clone(), *strategy)),
            _ => None,
        })
        .collect()
}

#[test]
fn start_walks_history_and_evaluates_rev_client_then_server_at_once() {
    let (state, effects) = fresh(false, theme());
    assert!(state.history.loading && state.eval.loading);
    assert!(matches!(&effects[0], Effect::LoadHistory { rev, .. } if rev == "HEAD"));
    assert_eq!(
        evaluates(&effects),
        [
            ("HEAD".to_owned(), Strategy::Client),
            ("HEAD".to_owned(), Strategy::Server)
        ]
    );
}

#[test]
fn first_report_selects_the_first_resource_needing_attention_and_starts_the_watch() {
    let (mut state, effects) = fresh(false, theme());
    let effects = update(
        &mut state,
        Action::Evaluated {
            request: eval_request(&effects),
            strategy: Strategy::Client,
            result: Ok(report(0, Strategy::Client)),
        },
    );
    assert_eq!(selected_name(&state).as_deref(), Some("web"));
    assert_eq!(state.location.context, "kind-shop");
    assert!(state.eval.refining, "server refinement still expected");
    let Some(Effect::Watch { kinds }) = effects.first() else {
        panic!("{effects:?}")
    };
    // Unknown kinds are not served: nothing to watch.
    assert!(
        kinds.iter().all(|(_, kind, _)| kind != "Widget"),
        "{kinds:?}"
    );
    assert!(kinds.contains(&("apps/v1".into(), "Deployment".into(), Some("shop".into()))));
    assert!(
        state
            .detail
            .diff
            .as_ref()
            .is_some_and(|d| d.id.name == "web" && !d.hunks.is_empty())
    );
}

#[test]
fn results_of_requests_no_longer_current_are_dropped() {
    type Answer = Box<dyn Fn(u64) -> Action>;
    let cases: Vec<(&str, Answer)> = vec![
        (
            "stale evaluation",
            Box::new(|current| Action::Evaluated {
                request: current - 1,
                strategy: Strategy::Server,
                result: Ok(report(2, Strategy::Server)),
            }),
        ),
        (
            "stale detail",
            Box::new(|current| Action::DetailLoaded {
                request: current + 100,
                result: Ok(Vec::new()),
            }),
        ),
        (
            "stale history",
            Box::new(|current| Action::HistoryLoaded {
                request: current + 100,
                commits: Vec::new(),
                head: SHAS[2].into(),
                done: true,
            }),
        ),
    ];
    for (name, action) in cases {
        let mut state = loaded(false, theme());
        let current = state.eval.request;
        let before = (
            state.shown_revision(),
            state.history.commits.len(),
            state.detail.lines.clone(),
        );
        let effects = update(&mut state, action(current));
        assert!(effects.is_empty(), "{name}: {effects:?}");
        assert_eq!(
            (
                state.shown_revision(),
                state.history.commits.len(),
                state.detail.lines.clone()
            ),
            before,
            "{name}"
        );
    }
}

#[test]
fn a_late_client_result_does_not_replace_the_server_result() {
    let mut state = loaded(false, theme());
    let request = state.eval.request;
    let mut client = (*report(0, Strategy::Client)).clone();
    client.resources.retain(|r| r.state == DriftState::Synced);
    update(
        &mut state,
        Action::Evaluated {
            request,
            strategy: Strategy::Client,
            result: Ok(std::sync::Arc::new(client)),
        },
    );
    assert_eq!(state.eval.strategy, Some(Strategy::Server));
    assert_eq!(state.eval.report.as_ref().unwrap().resources.len(), 5);
}

#[test]
fn walking_history_evaluates_the_selected_commit() {
    let mut state = loaded(false, theme());
    assert_eq!(state.focus, Pane::History);
    let table = [
        (Action::Down, Some(SHAS[1])),
        (Action::Down, Some(SHAS[2])),
        (Action::Down, None), // at the end: nothing to do
        (Action::Top, Some(SHAS[0])),
        (Action::Bottom, Some(SHAS[2])),
        (Action::Up, Some(SHAS[1])),
    ];
    for (action, expected) in table {
        let label = format!("{action:?}");
        let effects = update(&mut state, action);
        match expected {
            Some(sha) => {
                assert_eq!(
                    evaluates(&effects),
                    [
                        (sha.to_owned(), Strategy::Client),
                        (sha.to_owned(), Strategy::Server)
                    ],
                    "{label}"
                );
                assert_eq!(state.eval.rev, sha, "{label}");
                assert!(state.eval.loading, "{label}");
            }
            None => assert!(effects.is_empty(), "{label}: {effects:?}"),
        }
    }
}

#[test]
fn panes_cycle_and_enter_esc_drill_in_and_out() {
    let mut state = loaded(false, theme());
    let table = [
        (Action::NextPane, Pane::Resources),
        (Action::NextPane, Pane::Detail),
        (Action::NextPane, Pane::History),
        (Action::PrevPane, Pane::Detail),
        (Action::Back, Pane::Resources),
        (Action::Back, Pane::History),
        (Action::Enter, Pane::Resources),
        (Action::Enter, Pane::Detail),
    ];
    for (action, focus) in table {
        let label = format!("{action:?}");
        update(&mut state, action);
        assert_eq!(state.focus, focus, "{label}");
    }
}

#[test]
fn moving_in_resources_recomputes_the_diff() {
    let mut state = loaded(false, theme());
    update(&mut state, Action::NextPane);
    assert_eq!(selected_name(&state).as_deref(), Some("web"));
    update(&mut state, Action::Down);
    assert_eq!(selected_name(&state).as_deref(), Some("api"));
    let diff = state.detail.diff.clone().unwrap();
    assert_eq!(diff.id.name, "api");
    assert!(diff.live.is_empty() && diff.desired.contains("kind: Service"));
}

#[test]
fn filters_select_by_text_state_and_kind() {
    let table = [
        // SPEC §9: rows needing attention first (Drifted, Missing, Orphaned, Unknown), Synced last.
        ("", vec!["web", "api", "old", "w1", "settings"]),
        ("state:drifted", vec!["web"]),
        ("state:missing state:orphaned", vec!["api", "old"]),
        ("kind:configmap", vec!["old", "settings"]),
        ("kind:Deployment.apps", vec!["web"]),
        ("we", vec!["web"]),
        ("shop", vec!["web", "api", "old", "w1", "settings"]),
        ("kind:configmap set", vec!["settings"]),
        ("state:bogus", vec![]),
    ];
    for (text, expected) in table {
        let mut state = loaded(false, theme());
        update(&mut state, Action::StartFilter);
        for c in text.chars() {
            update(&mut state, Action::InputChar(c));
        }
        update(&mut state, Action::InputSubmit);
        let report = state.eval.report.clone().unwrap();
        let names: Vec<&str> = state
            .resources
            .visible
            .iter()
            .map(|&i| report.resources[i].id.name.as_str())
            .collect();
        assert_eq!(names, expected, "filter {text:?}");
        assert_eq!(state.resources.filter, parse_filter(text));
        assert!(state.input.is_none());
    }
}

#[test]
fn esc_clears_the_filter_in_resources() {
    let mut state = loaded(false, theme());
    update(&mut state, Action::StartFilter);
    for c in "state:drifted".chars() {
        update(&mut state, Action::InputChar(c));
    }
    update(&mut state, Action::InputSubmit);
    assert_eq!(state.resources.visible.len(), 1);
    update(&mut state, Action::Back);
    assert_eq!(state.resources.visible.len(), 5);
    assert_eq!(
        selected_name(&state).as_deref(),
        Some("web"),
        "selection kept"
    );
}

fn run_command(state: &mut State, text: &str) -> Vec<Effect> {
    update(state, Action::StartCommand);
    assert_eq!(
        state.input.as_ref().map(|i| i.kind),
        Some(InputKind::Command)
    );
    for c in text.chars() {
        update(state, Action::InputChar(c));
    }
    update(state, Action::InputSubmit)
}

#[test]
fn commands_change_context_namespace_rev_and_theme() {
    let mut state = loaded(false, theme());
    let effects = run_command(&mut state, "ctx prod");
    assert_eq!(effects[0], Effect::SetContext("prod".into()));
    assert_eq!(evaluates(&effects).len(), 2);
    assert_eq!(state.location.context, "prod");

    let effects = run_command(&mut state, "ns team-a");
    assert_eq!(effects[0], Effect::SetNamespace("team-a".into()));
    assert_eq!(state.location.namespace.as_deref(), Some("team-a"));

    let effects = run_command(&mut state, "rev HEAD~1");
    assert!(matches!(&effects[0], Effect::LoadHistory { rev, .. } if rev == "HEAD~1"));
    assert_eq!(evaluates(&effects)[0].0, "HEAD~1");
    assert!(state.history.commits.is_empty() && state.history.loading);

    let effects = run_command(&mut state, "theme light");
    assert_eq!(effects, [Effect::LoadTheme("light".into())]);

    for bad in ["ctx", "frobnicate"] {
        let effects = run_command(&mut state, bad);
        assert!(effects.is_empty());
        assert!(state.status.as_ref().is_some_and(|s| s.error), "{bad}");
    }
    run_command(&mut state, "q");
    assert!(state.quit);
}

/// The plan request of the `PlanSync`/`PlanRevert` effect in `effects`.
fn plan_request(effects: &[Effect]) -> u64 {
    match effects {
        [Effect::PlanSync { request, .. }] | [Effect::PlanRevert { request, .. }] => *request,
        other => panic!("expected one plan effect: {other:?}"),
    }
}

fn confirm_of(state: &State) -> kubectl_gitops::tui::state::Confirm {
    match &state.popup {
        Some(Popup::Confirm(confirm)) => confirm.clone(),
        other => panic!("expected a confirmation: {other:?}"),
    }
}

#[test]
fn sync_resource_plans_shows_the_plan_and_runs_only_on_yes() {
    let web = tui_fixture::id("apps", "Deployment", Some("shop"), "web");
    let mut state = loaded(false, theme());
    let effects = update(&mut state, Action::SyncResource);
    assert!(
        matches!(&effects[..], [Effect::PlanSync { rev, resources: Some(r), .. }] if rev == SHAS[0] && r == &vec![web.clone()]),
        "{effects:?}"
    );
    let request = plan_request(&effects);
    let confirm = confirm_of(&state);
    assert_eq!(
        confirm.pending,
        Pending::SyncResource {
            rev: SHAS[0].into(),
            id: web.clone()
        }
    );
    assert!(!confirm.ready);
    // Until then the status report's view of the change is shown…
    assert!(
        confirm.lines.join("\n").contains("spec.replicas: 5 → 2"),
        "{:?}",
        confirm.lines
    );
    // …and yes does nothing.
    assert!(update(&mut state, Action::Confirm).is_empty());
    assert!(state.popup.is_some());
    // A plan for another dialog is dropped.
    update(
        &mut state,
        Action::Planned {
            request: request + 1,
            result: Ok(vec!["other".into()]),
        },
    );
    assert!(!confirm_of(&state).ready);
    // The plan arrives: its lines are what the dialog shows.
    let plan = vec![
        "Apply Deployment.apps web -n shop at git@c3c3c3c:".to_owned(),
        "  configure Deployment.apps web -n shop: spec.replicas (taken over from kubectl)"
            .to_owned(),
    ];
    update(
        &mut state,
        Action::Planned {
            request,
            result: Ok(plan.clone()),
        },
    );
    let confirm = confirm_of(&state);
    assert!(confirm.ready);
    assert_eq!(confirm.lines, plan);
    // No: nothing happens.
    assert!(update(&mut state, Action::Back).is_empty());
    assert!(state.popup.is_none());
    // Yes: the sync runs that plan.
    let effects = update(&mut state, Action::SyncResource);
    let request = plan_request(&effects);
    update(
        &mut state,
        Action::Planned {
            request,
            result: Ok(plan),
        },
    );
    let effects = update(&mut state, Action::Confirm);
    assert_eq!(
        effects,
        [Effect::Sync {
            plan: request,
            rev: SHAS[0].into(),
            resources: Some(vec![web])
        }]
    );
    assert_eq!(state.busy.as_deref(), Some("sync"));
    // A second write waits for the first.
    assert!(update(&mut state, Action::SyncAll).is_empty());
    assert!(state.popup.is_none() && state.status.as_ref().is_some_and(|s| s.error));
}

#[test]
fn a_plan_that_fails_is_shown_and_nothing_runs() {
    let mut state = loaded(false, theme());
    let effects = update(&mut state, Action::SyncAll);
    let request = plan_request(&effects);
    update(
        &mut state,
        Action::Planned {
            request,
            result: Err("preflight failed: Deployment.apps web -n shop: invalid".into()),
        },
    );
    assert!(
        matches!(&state.popup, Some(Popup::Message { error: true, lines, .. }) if lines[0].contains("preflight"))
    );
    assert!(update(&mut state, Action::Confirm).is_empty());
}

#[test]
fn sync_all_of_an_older_commit_is_a_rollback() {
    let mut state = loaded(false, theme());
    tui_fixture::at_older_commit(&mut state);
    let effects = update(&mut state, Action::SyncAll);
    let plan = plan_request(&effects);
    let confirm = confirm_of(&state);
    assert!(confirm.title.starts_with("Roll back"), "{}", confirm.title);
    assert!(
        confirm.lines[0].starts_with("ROLLBACK"),
        "{:?}",
        confirm.lines
    );
    assert!(confirm.lines[1].contains("1 to create, 1 to change, 1 unchanged, 1 orphaned kept"));
    update(
        &mut state,
        Action::Planned {
            request: plan,
            result: Ok(vec!["ROLLBACK".into()]),
        },
    );
    let effects = update(&mut state, Action::Confirm);
    assert_eq!(
        effects,
        [Effect::Sync {
            plan,
            rev: SHAS[1].into(),
            resources: None
        }]
    );

    // At HEAD it is a plain sync.
    let mut state = loaded(false, theme());
    update(&mut state, Action::SyncAll);
    assert!(confirm_of(&state).title.starts_with("Sync all"));
}

#[test]
fn revert_asks_and_can_sync_afterwards() {
    for (answer, then_sync) in [(Action::Confirm, false), (Action::ConfirmAndSync, true)] {
        let mut state = loaded(false, theme());
        update(&mut state, Action::Down);
        let effects = update(&mut state, Action::RevertCommit);
        assert!(matches!(&effects[..], [Effect::PlanRevert { commit, .. }] if commit == SHAS[1]));
        assert!(
            confirm_of(&state)
                .lines
                .join("\n")
                .contains("Revert \"add the api Service\"")
        );
        update(
            &mut state,
            Action::Planned {
                request: plan_request(&effects),
                result: Ok(vec!["removes Service api -n shop".into()]),
            },
        );
        let effects = update(&mut state, answer);
        assert_eq!(
            effects,
            [Effect::Revert {
                commit: SHAS[1].into(),
                then_sync
            }]
        );
    }
}

#[test]
fn read_only_refuses_every_write_and_says_so() {
    for action in [Action::SyncResource, Action::SyncAll, Action::RevertCommit] {
        let mut state = loaded(true, theme());
        let label = format!("{action:?}");
        assert!(update(&mut state, action).is_empty(), "{label}");
        assert!(state.popup.is_none(), "{label}");
        let status = state.status.clone().unwrap();
        assert!(
            status.error && status.text.contains("read-only"),
            "{label}: {status:?}"
        );
    }
}

#[test]
fn a_finished_write_reevaluates_and_a_revert_reloads_history_selecting_the_new_commit() {
    let mut state = loaded(false, theme());
    let effects = update(
        &mut state,
        Action::WriteDone {
            what: "sync".into(),
            result: Ok("1 configured".into()),
            new_head: None,
        },
    );
    assert_eq!(evaluates(&effects).len(), 2);
    assert!(state.busy.is_none());
    assert_eq!(state.status.as_ref().unwrap().text, "sync: 1 configured");

    let new = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4";
    let effects = update(
        &mut state,
        Action::WriteDone {
            what: "revert".into(),
            result: Ok("new commit".into()),
            new_head: Some(new.into()),
        },
    );
    let history = history_request(&effects);
    assert_eq!(evaluates(&effects)[0].0, new);
    let mut with_new = commits();
    with_new.insert(
        0,
        kubectl_gitops::model::CommitInfo {
            id: new.into(),
            ..commits()[0].clone()
        },
    );
    update(
        &mut state,
        Action::HistoryLoaded {
            request: history,
            commits: with_new,
            head: new.into(),
            done: true,
        },
    );
    assert_eq!(state.selected_commit().unwrap().id, new);

    let effects = update(
        &mut state,
        Action::WriteDone {
            what: "sync".into(),
            result: Err("conflict".into()),
            new_head: None,
        },
    );
    assert!(matches!(
        &state.popup,
        Some(Popup::Message { error: true, .. })
    ));
    assert_eq!(
        evaluates(&effects).len(),
        2,
        "look again after a failure too"
    );
}

#[test]
fn live_changes_reevaluate_the_shown_commit() {
    let mut state = loaded(false, theme());
    let effects = update(
        &mut state,
        Action::LiveChanged {
            changed: Vec::new(),
        },
    );
    assert_eq!(
        evaluates(&effects),
        [
            (SHAS[0].to_owned(), Strategy::Client),
            (SHAS[0].to_owned(), Strategy::Server)
        ]
    );
}

#[test]
fn detail_modes_toggle_and_ask_for_their_data() {
    let mut state = loaded(false, theme());
    let table: [(Action, DetailMode, DiffLayout); 5] = [
        (Action::ToggleLayout, DetailMode::Diff, DiffLayout::Unified),
        (
            Action::ToggleBlame,
            DetailMode::Blame { live: false },
            DiffLayout::Unified,
        ),
        (
            Action::ToggleBlame,
            DetailMode::Blame { live: true },
            DiffLayout::Unified,
        ),
        (
            Action::ResourceHistory,
            DetailMode::History,
            DiffLayout::Unified,
        ),
        (
            Action::ToggleLayout,
            DetailMode::Diff,
            DiffLayout::SideBySide,
        ),
    ];
    for (action, mode, layout) in table {
        let label = format!("{action:?}");
        let effects = update(&mut state, action);
        assert_eq!(
            (state.detail.mode, state.detail.layout),
            (mode, layout),
            "{label}"
        );
        match mode {
            DetailMode::Blame { live } => assert!(
                matches!(&effects[..], [Effect::Blame { live: l, rev, .. }] if *l == live && rev == SHAS[0]),
                "{label}: {effects:?}"
            ),
            DetailMode::History => {
                assert!(
                    matches!(&effects[..], [Effect::ResourceHistory { .. }]),
                    "{label}"
                )
            }
            DetailMode::Diff => assert!(effects.is_empty(), "{label}"),
        }
    }
}

#[test]
fn enter_on_a_blame_line_opens_its_commit() {
    use kubectl_gitops::tui::action::DetailLine;
    let mut state = loaded(false, theme());
    let effects = update(&mut state, Action::ToggleBlame);
    let Effect::Blame { request, .. } = effects[0].clone() else {
        panic!()
    };
    let line = |commit: &str| DetailLine {
        gutter: commit[..7].into(),
        text: "replicas: 2".into(),
        mark: '~',
        commit: Some(commit.into()),
    };
    update(
        &mut state,
        Action::DetailLoaded {
            request,
            result: Ok(vec![line(SHAS[0]), line(SHAS[2])]),
        },
    );
    state.focus = Pane::Detail;
    update(&mut state, Action::Down);
    let effects = update(&mut state, Action::Enter);
    assert_eq!(state.focus, Pane::History);
    assert_eq!(state.selected_commit().unwrap().id, SHAS[2]);
    assert_eq!(evaluates(&effects)[0].0, SHAS[2]);
}

#[test]
fn syntax_colours_come_from_an_effect_and_stale_ones_are_dropped() {
    let mut state = loaded(false, theme());
    assert!(state.detail.diff.as_ref().unwrap().highlighted.is_some());
    update(&mut state, Action::NextPane);
    let effects = update(&mut state, Action::Down);
    let [
        Effect::Highlight {
            id,
            live,
            desired,
            syntax,
        },
    ] = &effects[..]
    else {
        panic!("{effects:?}")
    };
    assert_eq!(id.name, "api");
    assert_eq!(Some(syntax.as_str()), state.theme.syntax.as_deref());
    assert!(
        state.detail.diff.as_ref().unwrap().highlighted.is_none(),
        "plain until then"
    );
    // Colours for the resource selected before are dropped.
    let stale = tui_fixture::id("apps", "Deployment", Some("shop"), "web");
    let colours = (
        kubectl_gitops::highlight::highlight_yaml(live, syntax),
        kubectl_gitops::highlight::highlight_yaml(desired, syntax),
    );
    update(
        &mut state,
        Action::Highlighted {
            id: stale,
            live: live.clone(),
            desired: desired.clone(),
            syntax: syntax.clone(),
            colours: colours.clone(),
        },
    );
    assert!(state.detail.diff.as_ref().unwrap().highlighted.is_none());
    tui_fixture::highlight(&mut state, &effects);
    assert!(state.detail.diff.as_ref().unwrap().highlighted.is_some());
    // Without colours (NO_COLOR) nothing is highlighted.
    let mut state = loaded(false, Theme::monochrome());
    update(&mut state, Action::NextPane);
    assert!(update(&mut state, Action::Down).is_empty());
}

#[test]
fn help_and_quit() {
    let mut state = loaded(false, theme());
    update(&mut state, Action::Help);
    assert_eq!(state.popup, Some(Popup::Help));
    update(&mut state, Action::Back);
    assert!(state.popup.is_none());
    update(&mut state, Action::Quit);
    assert!(state.quit);
}

/// The `LoadTexts` effects in `effects`: (request, resource name).
fn texts_requests(effects: &[Effect]) -> Vec<(u64, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::LoadTexts { request, id, .. } => Some((*request, id.name.clone())),
            _ => None,
        })
        .collect()
}

/// The one `LoadTexts` effect in `effects`: (request, resource name).
fn the_texts_request(effects: &[Effect]) -> (u64, String) {
    let [request] = &texts_requests(effects)[..] else {
        panic!("one LoadTexts expected: {effects:?}")
    };
    request.clone()
}

/// Answers texts request `request` for the selected row with `result`, as the runtime would.
fn answer_texts(
    state: &mut State,
    request: u64,
    result: Result<(String, String), String>,
) -> Vec<Effect> {
    let id = state.selected_resource().unwrap().id.clone();
    update(
        state,
        Action::TextsLoaded {
            request,
            id,
            result,
        },
    )
}

/// A state whose report carries no texts (as the UI's evaluations make it), the texts left
/// out, and the effects of the report's arrival.
fn loaded_without_texts() -> (
    State,
    std::collections::HashMap<String, (String, String)>,
    Vec<Effect>,
) {
    let (mut state, effects) = fresh(false, theme());
    let (report, texts) = tui_fixture::report_without_texts(0, Strategy::Server);
    let effects = update(
        &mut state,
        Action::Evaluated {
            request: eval_request(&effects),
            strategy: Strategy::Server,
            result: Ok(report),
        },
    );
    (state, texts, effects)
}

#[test]
fn a_report_without_texts_asks_for_the_selected_rows_texts_and_shows_a_loading_line() {
    let (state, _, effects) = loaded_without_texts();
    let row = state.selected_resource().unwrap().clone();
    assert_eq!(row.id.name, "web");
    let asked: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::LoadTexts { .. }))
        .collect();
    let [
        Effect::LoadTexts {
            request,
            rev,
            strategy,
            id,
            api_version,
            source,
        },
    ] = &asked[..]
    else {
        panic!("one LoadTexts expected: {effects:?}")
    };
    assert_eq!(*request, state.detail.texts.request);
    assert_eq!(rev, SHAS[0]);
    assert_eq!(*strategy, Strategy::Server);
    assert_eq!(id, &row.id);
    assert_eq!(api_version, "apps/v1");
    assert_eq!(source, &row.source);
    // Meanwhile: no diff, a loading line.
    assert!(state.detail.texts.loading);
    assert!(state.detail.diff.is_none());
    let screen = tui_fixture::screen(&state);
    assert!(screen.contains("loading the diff…"), "{screen}");
}

#[test]
fn the_texts_answer_shows_the_diff_and_highlights_it() {
    let (mut state, texts, effects) = loaded_without_texts();
    let (request, name) = the_texts_request(&effects);
    let (live, desired) = texts[&name].clone();
    let effects = answer_texts(&mut state, request, Ok((live.clone(), desired.clone())));
    assert!(!state.detail.texts.loading);
    let diff = state.detail.diff.as_ref().expect("a diff");
    assert_eq!(
        (diff.live.as_str(), diff.desired.as_str()),
        (&*live, &*desired)
    );
    assert!(!diff.hunks.is_empty(), "web is drifted");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Highlight { live: l, .. } if *l == live))
    );
    let screen = tui_fixture::screen(&state);
    assert!(!screen.contains("loading the diff…"));
    assert!(screen.contains("replicas: 5"), "{screen}");
}

#[test]
fn a_stale_texts_answer_is_dropped_and_the_current_one_shown() {
    let (mut state, texts, effects) = loaded_without_texts();
    let (first, first_name) = the_texts_request(&effects);
    update(&mut state, Action::NextPane);
    // Moving the selection asks again.
    let (second, second_name) = the_texts_request(&update(&mut state, Action::Down));
    assert_ne!(first, second);
    assert_ne!(first_name, second_name);
    // The answer for the row selected before arrives late: dropped.
    let stale_id = tui_fixture::id("apps", "Deployment", Some("shop"), &first_name);
    update(
        &mut state,
        Action::TextsLoaded {
            request: first,
            id: stale_id,
            result: Ok(texts[&first_name].clone()),
        },
    );
    assert!(state.detail.diff.is_none(), "stale texts shown");
    assert!(state.detail.texts.loading);
    // A failure of a stale request is dropped too.
    answer_texts(&mut state, first, Err("stale failure".into()));
    assert!(state.detail.texts.error.is_none());
    let (live, desired) = texts[&second_name].clone();
    answer_texts(&mut state, second, Ok((live.clone(), desired.clone())));
    let diff = state
        .detail
        .diff
        .as_ref()
        .expect("the current answer is shown");
    assert_eq!(diff.id.name, second_name);
    assert_eq!(diff.desired, desired);
}

#[test]
fn a_texts_failure_is_shown_in_the_pane() {
    let (mut state, _, effects) = loaded_without_texts();
    let (request, _) = the_texts_request(&effects);
    answer_texts(
        &mut state,
        request,
        Err("cannot connect to the cluster".into()),
    );
    assert!(!state.detail.texts.loading);
    let screen = tui_fixture::screen(&state);
    assert!(screen.contains("cannot connect to the cluster"), "{screen}");
}

#[test]
fn texts_are_asked_again_only_when_the_selected_row_changes() {
    let (mut state, texts, effects) = loaded_without_texts();
    let (request, name) = the_texts_request(&effects);
    answer_texts(&mut state, request, Ok(texts[&name].clone()));
    // A live change elsewhere re-evaluates; the selected row comes back the same: no request,
    // the diff stays.
    let effects = update(
        &mut state,
        Action::LiveChanged {
            changed: Vec::new(),
        },
    );
    let request = eval_request(&effects);
    let (report, _) = tui_fixture::report_without_texts(0, Strategy::Server);
    let effects = update(
        &mut state,
        Action::Evaluated {
            request,
            strategy: Strategy::Server,
            result: Ok(Arc::clone(&report)),
        },
    );
    assert!(texts_requests(&effects).is_empty(), "{effects:?}");
    assert!(state.detail.diff.is_some());
    // The selected object changed (new resourceVersion): asked again, the old diff shown
    // meanwhile (same resource).
    let effects = update(
        &mut state,
        Action::LiveChanged {
            changed: Vec::new(),
        },
    );
    let request = eval_request(&effects);
    let mut changed = (*report).clone();
    let web = changed
        .resources
        .iter_mut()
        .find(|r| r.id.name == "web")
        .unwrap();
    web.live_resource_version = Some("web-2".into());
    let effects = update(
        &mut state,
        Action::Evaluated {
            request,
            strategy: Strategy::Server,
            result: Ok(Arc::new(changed)),
        },
    );
    assert_eq!(
        texts_requests(&effects)
            .into_iter()
            .map(|(_, n)| n)
            .collect::<Vec<_>>(),
        ["web"]
    );
    assert!(state.detail.texts.loading);
    assert!(
        state.detail.diff.is_some(),
        "the previous diff stays until the answer"
    );
}

/// The rows of an `EvaluateRows` effect, by name.
fn rows_asked(effects: &[Effect]) -> Option<(u64, Vec<String>)> {
    match effects {
        [Effect::EvaluateRows { request, rows, .. }] => Some((
            *request,
            rows.iter().map(|(id, _, _)| id.name.clone()).collect(),
        )),
        _ => None,
    }
}

#[test]
fn a_live_change_of_a_few_shown_objects_evaluates_only_their_rows() {
    let mut state = loaded(false, theme());
    let web = tui_fixture::id("apps", "Deployment", Some("shop"), "web");
    let old = tui_fixture::id("", "ConfigMap", Some("shop"), "old");
    let effects = update(
        &mut state,
        Action::LiveChanged {
            changed: vec![web.clone(), old.clone(), web.clone()],
        },
    );
    let Some((request, names)) = rows_asked(&effects) else {
        panic!("{effects:?}")
    };
    assert_eq!(names, ["web", "old"]);
    let [
        Effect::EvaluateRows {
            rev,
            strategy,
            rows,
            ..
        },
    ] = &effects[..]
    else {
        unreachable!()
    };
    assert_eq!((rev.as_str(), *strategy), (SHAS[0], Strategy::Server));
    assert_eq!(rows[0].1, "apps/v1");
    // web was set back to git's version by someone: Synced now; the rest is as it was.
    let before = state.eval.report.clone().unwrap();
    let mut synced = before
        .resources
        .iter()
        .find(|r| r.id == web)
        .unwrap()
        .clone();
    synced.state = DriftState::Synced;
    synced.fields.clear();
    synced.changes.clear();
    synced.live_resource_version = Some("web-2".into());
    let orphan = before
        .resources
        .iter()
        .find(|r| r.id == old)
        .unwrap()
        .clone();
    update(
        &mut state,
        Action::RowsEvaluated {
            request,
            result: Ok(vec![synced, orphan]),
        },
    );
    let report = state.eval.report.clone().unwrap();
    assert_eq!(report.resources.len(), before.resources.len());
    let states: Vec<(String, DriftState)> = report
        .resources
        .iter()
        .map(|r| (r.id.name.clone(), r.state))
        .collect();
    // Sorted as ops::status sorts: by state, then kind.
    assert_eq!(
        states,
        [
            ("settings".to_owned(), DriftState::Synced),
            ("web".to_owned(), DriftState::Synced),
            ("api".to_owned(), DriftState::Missing),
            ("old".to_owned(), DriftState::Orphaned),
            ("w1".to_owned(), DriftState::Unknown),
        ]
    );
    assert_eq!(
        selected_name(&state).as_deref(),
        Some("web"),
        "selection kept"
    );
    assert!(!state.eval.loading && !state.eval.refining);
}

#[test]
fn other_live_changes_evaluate_everything_again() {
    let web = tui_fixture::id("apps", "Deployment", Some("shop"), "web");
    let stranger = tui_fixture::id("", "ConfigMap", Some("shop"), "new-orphan");
    let many: Vec<_> = (0..17)
        .map(|i| tui_fixture::id("", "ConfigMap", Some("shop"), &format!("c{i}")))
        .collect();
    let full = [
        (SHAS[0].to_owned(), Strategy::Client),
        (SHAS[0].to_owned(), Strategy::Server),
    ];
    for (what, changed) in [
        (
            "an object the report does not show",
            vec![web.clone(), stranger],
        ),
        ("a resync", Vec::new()),
        ("many changes", many),
    ] {
        let mut state = loaded(false, theme());
        let effects = update(&mut state, Action::LiveChanged { changed });
        assert_eq!(evaluates(&effects), full, "{what}");
    }
    // While the server refinement still runs, a change evaluates everything again too.
    let (mut state, effects) = fresh(false, theme());
    update(
        &mut state,
        Action::Evaluated {
            request: eval_request(&effects),
            strategy: Strategy::Client,
            result: Ok(report(0, Strategy::Client)),
        },
    );
    let effects = update(&mut state, Action::LiveChanged { changed: vec![web] });
    assert_eq!(evaluates(&effects), full);
}

#[test]
fn a_failed_rows_evaluation_evaluates_everything_and_a_stale_one_is_dropped() {
    let web = tui_fixture::id("apps", "Deployment", Some("shop"), "web");
    let mut state = loaded(false, theme());
    let effects = update(
        &mut state,
        Action::LiveChanged {
            changed: vec![web.clone()],
        },
    );
    let (request, _) = rows_asked(&effects).unwrap();
    let effects = update(
        &mut state,
        Action::RowsEvaluated {
            request,
            result: Err("web is no longer defined in web.yaml".into()),
        },
    );
    assert_eq!(evaluates(&effects).len(), 2, "{effects:?}");
    // The rows answer of a request superseded (here by a commit picked meanwhile) is dropped.
    let mut state = loaded(false, theme());
    let effects = update(&mut state, Action::LiveChanged { changed: vec![web] });
    let (request, _) = rows_asked(&effects).unwrap();
    update(&mut state, Action::Down);
    let shown = state.eval.report.clone().unwrap();
    let effects = update(
        &mut state,
        Action::RowsEvaluated {
            request,
            result: Ok(Vec::new()),
        },
    );
    assert!(effects.is_empty());
    assert!(Arc::ptr_eq(&shown, state.eval.report.as_ref().unwrap()));
}

/// The names of the rows under the mark, in the Resources pane's order (`!` for a render error).
fn marked_rows(state: &State) -> Vec<String> {
    let mark = state.mark.as_ref().expect("a mark");
    mark.rows
        .iter()
        .map(|&row| match row {
            MarkRow::RenderError(_) => "!".to_owned(),
            MarkRow::Changed(_) => mark.resource(row).unwrap().id.name.clone(),
        })
        .collect()
}

fn diff_shown(state: &State) -> Option<(String, String, String)> {
    state
        .detail
        .diff
        .as_ref()
        .map(|d| (d.id.name.clone(), d.live.clone(), d.desired.clone()))
}

#[test]
fn m_marks_the_selected_commit_and_walking_history_compares_against_it() {
    let mut state = loaded(false, theme());
    let effects = update(&mut state, Action::ToggleMark);
    let mark = state.mark.as_ref().expect("marked");
    assert_eq!(mark.commit, SHAS[0]);
    // The mark is the selected commit: nothing to compare yet.
    assert!(mark.on_itself() && !mark.loading, "{mark:?}");
    assert!(comparisons(&effects).is_empty(), "{effects:?}");

    // Walking the history compares the mark (old) with the selected commit (new) and still
    // evaluates the selected commit against live.
    let effects = update(&mut state, Action::Down);
    let compared = comparisons(&effects);
    assert_eq!(
        compared
            .iter()
            .map(|(_, from, rev)| (from.as_str(), rev.as_str()))
            .collect::<Vec<_>>(),
        [(SHAS[0], SHAS[1])]
    );
    assert_eq!(
        evaluates(&effects)[0],
        (SHAS[1].to_owned(), Strategy::Client)
    );
    assert!(state.mark.as_ref().unwrap().loading);
    let effects = update(
        &mut state,
        Action::Compared {
            request: compared[0].0,
            result: Ok(revision_diff(0, 1, Vec::new())),
        },
    );
    let mark = state.mark.as_ref().unwrap();
    assert!(!mark.loading && mark.rev == SHAS[1]);
    // The Detail pane: the first row at the mark (left) against the selected commit (right).
    let (name, old, new) = diff_shown(&state).unwrap();
    assert_eq!(name, "legacy");
    assert!(old.contains("MODE: old") && new.is_empty(), "{old} / {new}");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Highlight { id, .. } if id.name == "legacy")),
        "{effects:?}"
    );

    // Further down: compared again, with the mark kept.
    let effects = update(&mut state, Action::Down);
    let compared = comparisons(&effects);
    assert_eq!(compared.len(), 1, "{effects:?}");
    assert_eq!(
        (compared[0].1.as_str(), compared[0].2.as_str()),
        (SHAS[0], SHAS[2])
    );
    // `m` elsewhere moves the mark there.
    update(&mut state, Action::ToggleMark);
    assert_eq!(state.mark.as_ref().unwrap().commit, SHAS[2]);
}

#[test]
fn the_resources_under_a_mark_list_what_changed_needing_attention_first() {
    let mut state = marked(
        false,
        theme(),
        vec!["at b2b2b2b: envs/shop/broken.yaml:3: did not parse".into()],
    );
    // Render errors, then removed, modified, added (kind and name within each).
    assert_eq!(
        marked_rows(&state),
        ["!", "legacy", "web", "settings", "api"]
    );
    assert_eq!(state.mark.as_ref().unwrap().selected, 0);
    // A render error row has no diff.
    assert!(state.detail.diff.is_none());

    // Moving in the Resources pane shows each one's rendered diff.
    update(&mut state, Action::NextPane);
    let expected = [
        ("legacy", "MODE: old", ""),
        ("web", "nginx:1.25", "nginx:1.27"),
        ("settings", "", "LOG_LEVEL: info"),
        ("api", "", "port: 80"),
    ];
    for (name, old, new) in expected {
        update(&mut state, Action::Down);
        let (shown, left, right) = diff_shown(&state).unwrap();
        assert_eq!(shown, name);
        assert!(
            left.contains(old) && right.contains(new),
            "{name}: {left} / {right}"
        );
        assert_eq!(
            state.detail_resource().map(|id| id.name.as_str()),
            Some(name)
        );
    }

    // The filter applies to the rows under the mark, keeping the selection when it stays.
    update(&mut state, Action::StartFilter);
    for c in "kind:configmap".chars() {
        update(&mut state, Action::InputChar(c));
    }
    update(&mut state, Action::InputSubmit);
    assert_eq!(marked_rows(&state), ["!", "legacy", "settings"]);
    assert_eq!(state.focus, Pane::Resources);
    update(&mut state, Action::Down);
    assert_eq!(diff_shown(&state).unwrap().0, "legacy");

    // Blame under a mark is the selected changed resource's, at the selected commit.
    let effects = update(&mut state, Action::ToggleBlame);
    assert!(
        effects.iter().any(|e| matches!(
            e,
            Effect::Blame { rev, id, .. } if rev == SHAS[1] && id.name == "legacy"
        )),
        "{effects:?}"
    );
}

#[test]
fn m_on_the_marked_commit_or_esc_in_history_clears_the_mark() {
    type Clear = fn(&mut State);
    let cases: [(&str, Clear); 3] = [
        ("m on the marked commit", |state| {
            update(state, Action::Up);
            assert!(state.mark.is_some(), "moving onto the mark keeps it");
            update(state, Action::ToggleMark);
        }),
        ("Esc in History", |state| {
            update(state, Action::Back);
        }),
        (
            "Esc from Detail: back to History first, then clears",
            |state| {
                update(state, Action::NextPane);
                update(state, Action::NextPane);
                assert_eq!(state.focus, Pane::Detail);
                update(state, Action::Back);
                assert_eq!(state.focus, Pane::Resources);
                assert!(state.mark.is_some(), "Esc goes back a pane first");
                update(state, Action::Back);
                assert_eq!(state.focus, Pane::History);
                assert!(state.mark.is_some());
                update(state, Action::Back);
            },
        ),
    ];
    for (name, clear) in cases {
        let mut state = marked(false, theme(), Vec::new());
        assert_eq!(diff_shown(&state).unwrap().0, "legacy", "{name}");
        clear(&mut state);
        assert!(state.mark.is_none(), "{name}");
        // Back to the diff live → git of the selected row.
        let row = state.selected_resource().unwrap();
        let (shown, live, desired) = diff_shown(&state).unwrap();
        assert_eq!(shown, row.id.name, "{name}");
        assert_eq!(live, row.live_yaml.clone().unwrap_or_default(), "{name}");
        assert_eq!(
            desired,
            row.desired_yaml.clone().unwrap_or_default(),
            "{name}"
        );
    }
}

#[test]
fn esc_still_closes_popups_input_and_filter_before_the_mark() {
    let mut state = marked(false, theme(), Vec::new());
    update(&mut state, Action::Help);
    update(&mut state, Action::Back);
    assert!(state.popup.is_none() && state.mark.is_some());
    update(&mut state, Action::StartCommand);
    update(&mut state, Action::Back);
    assert!(state.input.is_none() && state.mark.is_some());
    update(&mut state, Action::NextPane);
    update(&mut state, Action::StartFilter);
    update(&mut state, Action::InputChar('w'));
    update(&mut state, Action::InputSubmit);
    assert_eq!(marked_rows(&state), ["web"]);
    update(&mut state, Action::Back);
    assert!(state.resources.filter.text.is_empty() && state.mark.is_some());
    assert_eq!(marked_rows(&state).len(), 4);
}

#[test]
fn a_late_comparison_for_an_older_mark_or_selection_is_dropped() {
    // The selection moved on before the answer: the older pair's answer is dropped.
    let mut state = loaded(false, theme());
    update(&mut state, Action::ToggleMark);
    let first = comparisons(&update(&mut state, Action::Down))[0].0;
    let second = comparisons(&update(&mut state, Action::Down))[0].0;
    let effects = update(
        &mut state,
        Action::Compared {
            request: first,
            result: Ok(revision_diff(0, 1, Vec::new())),
        },
    );
    assert!(effects.is_empty(), "{effects:?}");
    let mark = state.mark.as_ref().unwrap();
    assert!(
        mark.loading && mark.diff.is_none() && mark.rev == SHAS[2],
        "{mark:?}"
    );
    update(
        &mut state,
        Action::Compared {
            request: second,
            result: Ok(revision_diff(0, 2, Vec::new())),
        },
    );
    let mark = state.mark.as_ref().unwrap();
    assert!(!mark.loading);
    assert_eq!(mark.diff.as_ref().unwrap().revision.id, SHAS[2]);

    // The mark moved (cleared and set elsewhere) before the answer: dropped too.
    let mut state = loaded(false, theme());
    update(&mut state, Action::ToggleMark);
    let old_mark = comparisons(&update(&mut state, Action::Down))[0].0;
    update(&mut state, Action::ToggleMark); // the mark is now SHAS[1], the selected commit
    assert_eq!(state.mark.as_ref().unwrap().commit, SHAS[1]);
    update(
        &mut state,
        Action::Compared {
            request: old_mark,
            result: Ok(revision_diff(0, 1, Vec::new())),
        },
    );
    let mark = state.mark.as_ref().unwrap();
    assert!(mark.diff.is_none() && mark.rows.is_empty(), "{mark:?}");

    // An answer after the mark was cleared changes nothing.
    update(&mut state, Action::Back);
    assert!(state.mark.is_none());
    update(
        &mut state,
        Action::Compared {
            request: old_mark,
            result: Ok(revision_diff(0, 1, Vec::new())),
        },
    );
    assert!(state.mark.is_none());
}

#[test]
fn a_failed_comparison_is_shown_and_the_next_move_compares_again() {
    let mut state = loaded(false, theme());
    update(&mut state, Action::ToggleMark);
    let request = comparisons(&update(&mut state, Action::Down))[0].0;
    update(
        &mut state,
        Action::Compared {
            request,
            result: Err("cannot render the environment at --from c3c3c3c: bad".into()),
        },
    );
    let mark = state.mark.as_ref().unwrap();
    assert_eq!(
        mark.error.as_deref(),
        Some("cannot render the environment at --from c3c3c3c: bad")
    );
    assert!(mark.rows.is_empty() && state.detail.diff.is_none());
    let effects = update(&mut state, Action::Down);
    assert_eq!(comparisons(&effects).len(), 1);
    assert!(state.mark.as_ref().unwrap().error.is_none());
}

#[test]
fn writes_under_a_mark_act_on_the_selected_commit() {
    let mut state = marked(false, theme(), Vec::new());
    assert_eq!(state.shown_revision(), SHAS[1]);
    // The selected row, legacy, was removed by the selected commit: nothing to sync.
    let effects = update(&mut state, Action::SyncResource);
    assert!(effects.is_empty(), "{effects:?}");
    let status = state.status.clone().unwrap();
    assert!(
        status.error
            && status
                .text
                .contains("ConfigMap legacy -n shop is not in the environment at b2b2b2b"),
        "{status:?}"
    );
    assert!(state.popup.is_none());

    // web is there: `s` plans its sync to the selected commit.
    update(&mut state, Action::NextPane);
    update(&mut state, Action::Down);
    let effects = update(&mut state, Action::SyncResource);
    assert!(
        matches!(
            &effects[..],
            [Effect::PlanSync { rev, resources: Some(ids), .. }]
                if rev == SHAS[1] && ids.len() == 1 && ids[0].name == "web"
        ),
        "{effects:?}"
    );
    update(&mut state, Action::Back);

    // S and R as without a mark: the selected commit.
    let effects = update(&mut state, Action::SyncAll);
    assert!(
        matches!(&effects[..], [Effect::PlanSync { rev, resources: None, .. }] if rev == SHAS[1]),
        "{effects:?}"
    );
    update(&mut state, Action::Back);
    let effects = update(&mut state, Action::RevertCommit);
    assert!(
        matches!(&effects[..], [Effect::PlanRevert { commit, .. }] if commit == SHAS[1]),
        "{effects:?}"
    );
}

#[test]
fn a_late_live_diff_text_does_not_replace_the_marked_diff() {
    let (mut state, texts, effects) = loaded_without_texts();
    // The first report asked for the selected row's texts; they arrive after the mark.
    let (request, name) = the_texts_request(&effects);
    let history = state.history.request;
    tui_fixture::answer_history(&mut state, history);
    update(&mut state, Action::ToggleMark);
    let compare = comparisons(&update(&mut state, Action::Down))[0].0;
    update(
        &mut state,
        Action::Compared {
            request: compare,
            result: Ok(revision_diff(0, 1, Vec::new())),
        },
    );
    let effects = answer_texts(&mut state, request, Ok(texts[&name].clone()));
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(diff_shown(&state).unwrap().0, "legacy");
}
