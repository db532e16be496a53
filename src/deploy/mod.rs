//! Deployments: what is deployed where and whether it matches what git says — Argo CD
//! Applications, read and acted on through the Argo CD API server or the Kubernetes API — and ECS
//! services deployed blue/green, and Cloud Deploy's delivery pipelines.

pub mod argocd;
pub mod clouddeploy;
pub mod ecs;
