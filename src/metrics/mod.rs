//! Canary analysis from Prometheus: measurements of canary and stable, conditions, a statistical
//! judge, and a verdict with the evidence behind it.

pub mod analysis;
pub mod cloudwatch;
mod fetch;
pub mod inject;
mod judge;
pub mod mann_whitney;
mod score;
pub mod source;

pub use analysis::{AnalysisResult, AnalysisSpec, Backend, MetricSpec, Phase, ServiceSpec, analyse, analyse_with_history};
pub use score::verdict;
pub use source::{Auth, DEFAULT_MAX_RESPONSE_BYTES, QueryError, Secret, Source};
