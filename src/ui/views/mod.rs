pub mod help;
pub mod pipelines;
pub mod too_small;
