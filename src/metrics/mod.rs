//! Canary analysis from Prometheus: measurements of canary and stable, conditions, a statistical
//! judge, and a verdict with the evidence behind it.

pub mod analysis;
pub mod inject;
mod judge;
pub mod mann_whitney;
pub mod source;

pub use analysis::{AnalysisResult, AnalysisSpec, MetricSpec, Phase, ServiceSpec, analyse, analyse_with_history};
pub use source::{Auth, QueryError, Secret, Source};
