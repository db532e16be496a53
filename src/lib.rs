//! flightdeck: a keyboard-driven terminal release cockpit.
//!
//! The picture: terminal events and worker results become `app::Action`s; `app::update` is the
//! only place state changes and returns `app::Effect`s; the effect runner executes them on tokio
//! tasks and sends results back as actions; `ui` renders from `&State` only.

pub mod app;
pub mod argo;
pub mod audit;
pub mod aws;
pub mod ci;
pub mod cli;
pub mod cockpit;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod deploy;
pub mod domain;
pub mod findings;
pub mod gcp;
pub mod identity;
pub mod keymap;
pub mod logging;
pub mod logstore;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod paths;
pub mod policy;
pub mod providers;
pub mod rollout;
pub mod supervisor;
pub mod theme;
pub mod ui;
pub mod util;
