pub mod approvals;
pub mod audit;
pub mod help;
pub mod pipelines;
pub mod too_small;
