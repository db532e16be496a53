//! Deployments: what is deployed where and whether it matches what git says — Argo CD
//! Applications, read and acted on through the Argo CD API server or the Kubernetes API — and ECS
//! services deployed blue/green.

pub mod argocd;
pub mod ecs;
