pub mod confirm;
pub mod footer;
pub mod header;
pub mod input;
pub mod log_view;
pub mod status;
pub mod text;
pub mod toast;
