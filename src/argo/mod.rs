//! Argo Rollouts over the Kubernetes API, with the user's own kubeconfig identity: what a rollout
//! is (model), how its state is judged (status), what each action sends (actions) and the client
//! that reads, watches and patches (client).

pub mod actions;
pub mod client;
pub mod listed;
pub mod model;
pub mod provider;
pub mod status;

pub use model::Rollout;
pub use provider::ArgoProvider;
