//! Keys: the dialogs, the text inputs, and which command a key means in the current context.

use super::*;

pub(crate) fn on_key(state: &mut State, ev: KeyEvent) -> Vec<Effect> {
    if ev.kind == KeyEventKind::Release {
        return Vec::new();
    }
    state.dirty = true;
    // Nothing on screen says what a key would do: only quitting works until the terminal grows.
    let (w, h) = state.size;
    if layout::too_small(ratatui::layout::Rect::new(0, 0, w, h)) {
        if state.keymap.resolve(Context::Global, &ev) == Some(Command::Quit) {
            return run_command(state, Command::Quit);
        }
        state.dirty = false;
        return Vec::new();
    }
    match state.overlay.take() {
        Some(Overlay::Help { scroll }) => {
            match state.keymap.resolve(state.context(), &ev) {
                Some(Command::Down) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_add(1) }),
                Some(Command::Up) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(1) }),
                Some(Command::PageDown) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_add(10) }),
                Some(Command::PageUp) => state.overlay = Some(Overlay::Help { scroll: scroll.saturating_sub(10) }),
                _ => {} // any other key closes help
            }
            Vec::new()
        }
        Some(Overlay::Confirm(c)) => on_confirm_key(state, c, ev),
        Some(Overlay::Input(input)) => on_input_key(state, input, ev),
        None if state.releases.picker.is_some() && matches!(state.screen, Screen::Overview | Screen::Release) => {
            // The picker's own keys, then moving through it with the global up and down.
            let cmd = state.keymap.resolve(Context::Picker, &ev).or_else(|| state.keymap.resolve(Context::Global, &ev));
            if state.releases.picking_owned && cmd == Some(Command::PickerChoose) {
                return super::release::choose_owned(state);
            }
            match super::release::picker_key(state, cmd) {
                Some(Ok(op)) => request(state, op),
                Some(Err(e)) => {
                    state.toast_error(e);
                    Vec::new()
                }
                None => Vec::new(),
            }
        }
        None => match state.keymap.resolve(state.context(), &ev) {
            Some(cmd) => run_command(state, cmd),
            None => {
                state.dirty = false;
                Vec::new()
            }
        },
    }
}

/// A key in a confirmation dialog. Its keys are the keymap's `dialog.*` (rebindable); in a text
/// field, a plain character is always text, so no binding can be pressed by typing a name.
pub(crate) fn on_confirm_key(state: &mut State, mut c: Box<Confirm>, ev: KeyEvent) -> Vec<Effect> {
    let plain_char = matches!(ev.code, KeyCode::Char(_)) && !ev.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    let in_text = c.tier == Tier::Typed && c.frozen.is_none() && c.field != ConfirmField::Buttons;
    let cmd = if in_text && plain_char { None } else { state.keymap.resolve(Context::Dialog, &ev) };
    if cmd == Some(Command::DialogCancel) {
        return Vec::new(); // cancelling always works, whatever else the dialog is doing
    }
    if c.frozen.is_some() {
        match cmd {
            Some(Command::BreakGlass) => {
                // Break-glass: the strongest confirmation, a reason, and a loud journal record.
                c.frozen = None;
                c.break_glass = true;
                c.tier = Tier::Typed;
                c.field = ConfirmField::Name;
                c.title = format!("BREAK-GLASS: {}", c.title);
            }
            Some(Command::DialogNo) => return Vec::new(),
            _ => {}
        }
        state.overlay = Some(Overlay::Confirm(c));
        return Vec::new();
    }
    if c.tier == Tier::Typed {
        match cmd {
            Some(nav @ (Command::DialogNextField | Command::DialogPrevField)) => {
                let order: Vec<ConfirmField> = if c.expiry.is_some() {
                    vec![ConfirmField::Name, ConfirmField::Reason, ConfirmField::Expiry, ConfirmField::Buttons]
                } else {
                    vec![ConfirmField::Name, ConfirmField::Reason, ConfirmField::Buttons]
                };
                let i = order.iter().position(|f| *f == c.field).unwrap_or(0);
                let n = order.len();
                c.field = if nav == Command::DialogNextField { order[(i + 1) % n] } else { order[(i + n - 1) % n] };
            }
            Some(Command::DialogSubmit) if c.field == ConfirmField::Name => c.field = ConfirmField::Reason,
            Some(Command::DialogSubmit) if c.field == ConfirmField::Reason && c.expiry.is_some() => c.field = ConfirmField::Expiry,
            Some(Command::DialogSubmit) if c.field == ConfirmField::Buttons && !c.yes_focused => return Vec::new(),
            Some(Command::DialogSubmit) => {
                if c.blocked().is_none() {
                    return confirmed(state, *c);
                }
                c.field = if c.typed_name() != c.target.as_ref().map(|t| t.name.clone()).unwrap_or_default() {
                    ConfirmField::Name
                } else {
                    ConfirmField::Reason
                };
            }
            Some(Command::DialogToggle) if c.field == ConfirmField::Buttons => c.yes_focused = !c.yes_focused,
            _ => match c.field {
                ConfirmField::Name => {
                    c.name.input(ev);
                }
                ConfirmField::Reason => {
                    c.reason.input(ev);
                }
                ConfirmField::Expiry => {
                    if let Some(e) = c.expiry.as_mut() {
                        e.input(ev);
                    }
                }
                ConfirmField::Buttons => {}
            },
        }
        state.overlay = Some(Overlay::Confirm(c));
        return Vec::new();
    }
    match cmd {
        Some(Command::DialogYes) => confirmed(state, *c),
        Some(Command::DialogNo) => Vec::new(),
        Some(Command::DialogSubmit) if c.yes_focused => confirmed(state, *c),
        Some(Command::DialogSubmit) => Vec::new(),
        Some(Command::DialogNextField | Command::DialogPrevField | Command::DialogToggle) => {
            c.yes_focused = !c.yes_focused;
            state.overlay = Some(Overlay::Confirm(c));
            Vec::new()
        }
        _ => {
            // Anything else keeps the question open: a stray key must not decide it.
            state.overlay = Some(Overlay::Confirm(c));
            Vec::new()
        }
    }
}

pub(crate) fn on_input_key(state: &mut State, mut input: Box<Input>, ev: KeyEvent) -> Vec<Effect> {
    match ev.code {
        KeyCode::Esc => {
            if input.kind == InputKind::Filter {
                // Esc abandons the edit; the filter that was there before stays.
                state.filter = input.suggestions.first().cloned().unwrap_or_default();
            }
            Vec::new()
        }
        KeyCode::Enter => submit_input(state, input),
        KeyCode::Tab if input.kind == InputKind::Command => {
            let line = input.value();
            let candidates = command::complete(&line, state);
            let completed = match candidates.len() {
                0 => line.clone(),
                1 => format!("{} ", candidates[0]),
                _ => command::common_prefix(&candidates),
            };
            if completed.len() >= line.len() {
                input.text = single_line(&completed);
            }
            input.suggestions = candidates;
            state.overlay = Some(Overlay::Input(input));
            Vec::new()
        }
        KeyCode::Char('m') | KeyCode::Char('j') if ev.modifiers.contains(KeyModifiers::CONTROL) => submit_input(state, input),
        _ => {
            input.text.input(ev);
            state.overlay = Some(Overlay::Input(input));
            after_input_edit(state);
            Vec::new()
        }
    }
}

/// Live effects of typing: the runs filter applies as you type, the command line suggests.
pub(crate) fn after_input_edit(state: &mut State) {
    let Some(Overlay::Input(input)) = &state.overlay else {
        return;
    };
    let value = input.value();
    match input.kind {
        InputKind::Filter => {
            state.filter = value;
            keep_selection_visible(state);
        }
        InputKind::Command => {
            let s = command::complete(&value, state);
            if let Some(Overlay::Input(input)) = &mut state.overlay {
                input.suggestions = s;
            }
        }
        InputKind::Search => {}
        InputKind::AuditFilter => {
            state.audit.filter = value;
            state.audit.cursor = 0;
        }
        InputKind::FindingsFilter => {
            state.findings_view.filter = value;
            state.findings_view.cursor = 0;
        }
    }
}

pub(crate) fn keep_selection_visible(state: &mut State) {
    let visible: Vec<RunRef> = state.visible_runs().iter().map(|r| r.record.id.clone()).collect();
    if let Some(sel) = &state.selected_run
        && !visible.contains(sel)
        && let Some(first) = visible.first()
    {
        let _ = select_run(state, first.clone());
    }
}

pub(crate) fn submit_input(state: &mut State, input: Box<Input>) -> Vec<Effect> {
    let value = input.value();
    match input.kind {
        InputKind::Filter => {
            state.filter = value.trim().to_string();
            keep_selection_visible(state);
            Vec::new()
        }
        InputKind::Search => search(state, value.trim()),
        InputKind::AuditFilter => {
            state.audit.filter = value.trim().to_string();
            state.audit.cursor = 0;
            Vec::new()
        }
        InputKind::FindingsFilter => {
            state.findings_view.filter = value.trim().to_string();
            state.findings_view.cursor = 0;
            Vec::new()
        }
        InputKind::Command => match command::parse(&value) {
            Ok(cmd) => line_command(state, cmd),
            Err(e) => {
                state.toast_error(e);
                Vec::new()
            }
        },
    }
}

pub(crate) fn single_line(text: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

pub(crate) fn open_input(state: &mut State, kind: InputKind, initial: &str) {
    let mut input = Input { kind, text: single_line(initial), suggestions: Vec::new() };
    if kind == InputKind::Filter {
        // Remember the filter in force so Esc can restore it.
        input.suggestions = vec![state.filter.clone()];
    }
    state.overlay = Some(Overlay::Input(Box::new(input)));
    if kind == InputKind::Command {
        after_input_edit(state);
    }
}
