//! ECS blue/green deployments as releases: services that CodeDeploy deploys (lifecycle events,
//! traffic between the original and replacement task sets, the deployment config and the alarms
//! that roll it back), and services with ECS's own blue/green, linear or canary strategy. The keys
//! send CodeDeploy's or ECS's own calls, through the same safety path as every rollout.

pub mod codedeploy;
pub mod listener;
pub mod model;
pub mod native;
pub mod provider;
pub mod reader;
pub mod view;

pub use provider::{ECS_PROVIDER, EcsProvider};
