//! Argo CD Applications: the model both ways in share (the API server and the Kubernetes API serve
//! the same `argoproj.io/v1alpha1` object), how one is judged, and what each action writes.

pub mod actions;
pub mod detail;
pub mod kube;
pub mod listed;
pub mod model;
pub mod ops;
pub mod provider;
pub mod server;
pub mod tree;
pub mod windows;

pub use model::App;
