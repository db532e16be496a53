pub mod approvals;
pub mod audit;
pub mod canary;
pub mod findings;
pub mod help;
pub mod pipelines;
pub mod too_small;
