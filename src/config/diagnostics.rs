//! Configuration errors that say where: file, line, column and key.

use std::fmt;
use std::ops::Range;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted key path such as `pipelines.release.stages[2].needs`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        } else {
            write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.column, self.key, self.message)
        }
    }
}

/// Every problem found in one configuration file.
#[derive(Clone, Debug, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.diagnostics.len();
        writeln!(f, "the configuration has {n} problem{}:", if n == 1 { "" } else { "s" })?;
        for d in &self.diagnostics {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics against one source text.
pub struct Reporter<'a> {
    file: &'a str,
    source: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a str, source: &'a str) -> Self {
        Reporter { file, source, diagnostics: Vec::new() }
    }

    pub fn error(&mut self, span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) {
        let (line, column) = span.map(|s| crate::util::line_col(self.source, s.start)).unwrap_or((1, 1));
        self.diagnostics.push(Diagnostic { file: self.file.to_string(), line, column, key: key.into(), message: message.into() });
    }

    /// Converts a TOML/serde error, recovering the key from the table header and the line it points at.
    pub fn toml_error(&mut self, err: &toml::de::Error) {
        let span = err.span();
        let key = span.as_ref().map(|s| key_at(self.source, s.start)).unwrap_or_default();
        let message = err.message().trim().replace('\n', " ");
        self.error(span, key, message);
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        if self.diagnostics.is_empty() { Ok(()) } else { Err(ConfigError { diagnostics: self.diagnostics }) }
    }
}

/// Best-effort dotted key for an offset: the enclosing `[table]` header plus the `key =` on that line.
fn key_at(source: &str, offset: usize) -> String {
    let offset = crate::util::floor_char_boundary(source, offset.min(source.len()));
    let line_start = source[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = source[offset..].find('\n').map(|i| offset + i).unwrap_or(source.len());
    let line = &source[line_start..line_end];
    let mut table = String::new();
    for l in source[..line_start].lines().rev() {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_start_matches('[').trim_end_matches(']').trim().to_string();
            break;
        }
    }
    let trimmed = line.trim();
    if trimmed.starts_with('[') {
        return trimmed.trim_start_matches('[').trim_end_matches(']').trim().to_string();
    }
    let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string()).unwrap_or_default();
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::line_col;

    #[test]
    fn line_and_column() {
        let s = "a = 1\nbb = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 11), (2, 6));
    }

    #[test]
    fn key_from_context() {
        let s = "[runner]\nmax_parallel_jobs = \"x\"\n";
        assert_eq!(key_at(s, 30), "runner.max_parallel_jobs");
    }
}
