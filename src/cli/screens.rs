//! The screens the cockpit can be opened on from the command line.

/// The screens the cockpit can open on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartScreen {
    Pipelines,
    Approvals,
    Findings,
    Audit,
    Canary,
    Releases,
    Release,
}

impl StartScreen {
    pub fn screen(self) -> crate::app::state::Screen {
        use crate::app::state::Screen;
        match self {
            StartScreen::Pipelines => Screen::Pipelines,
            StartScreen::Approvals => Screen::Approvals,
            StartScreen::Findings => Screen::Findings,
            StartScreen::Audit => Screen::Audit,
            StartScreen::Canary => Screen::Canary,
            StartScreen::Releases => Screen::Overview,
            StartScreen::Release => Screen::Release,
        }
    }
}
