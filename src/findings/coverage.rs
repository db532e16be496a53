//! Code coverage: Cobertura XML (coverage.py, Istanbul/nyc, JaCoCo's converters, gcovr,
//! Cobertura itself) and LCOV tracefiles (`lcov`, Istanbul, c8, cargo-llvm-cov, Jest). Counted
//! from the lines each file reports (a line once per file, covered when any entry hit it), with
//! the totals the report declares kept beside: the rule judges what was measured, and a report
//! whose own totals disagree shows it.

use std::collections::BTreeMap;

use quick_xml::events::Event;

use super::junit::attr;
use serde::{Deserialize, Serialize};

use super::ParsedReport;
use crate::findings::detect::Format;
use crate::logstore::sanitize::excerpt;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageSummary {
    pub files: usize,
    pub lines_valid: usize,
    pub lines_covered: usize,
    pub branches_valid: usize,
    pub branches_covered: usize,
    /// The line rate the report itself states (Cobertura's `line-rate`, LCOV's LH/LF sums).
    pub declared_rate: Option<f64>,
    /// Coverage of the lines the change added, where the diff is known.
    #[serde(default)]
    pub changed: Option<ChangedCoverage>,
    /// Each file's lines and hits, kept only until the changed lines are judged.
    #[serde(skip)]
    pub per_file: Lines,
}

/// How much of what a change added the tests ran: its added lines that the report measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangedCoverage {
    /// What the change is compared with (`origin/main`).
    pub base: String,
    pub lines: usize,
    pub covered: usize,
    /// Why the changed lines could not be judged (no git, an unknown base…).
    #[serde(default)]
    pub problem: Option<String>,
}

impl ChangedCoverage {
    pub fn percent(&self) -> Option<f64> {
        (self.problem.is_none() && self.lines > 0).then(|| self.covered as f64 * 100.0 / self.lines as f64)
    }

    pub fn text(&self) -> String {
        match (&self.problem, self.percent()) {
            (Some(p), _) => format!("changed lines not judged: {p}"),
            (None, Some(p)) => format!("changed lines {p:.1} % ({} of {} since {})", self.covered, self.lines, self.base),
            (None, None) => format!("no measured line changed since {}", self.base),
        }
    }
}

/// The lines a unified diff (`git diff --unified=0`) adds, per file (the new side's path).
pub fn added_lines(diff: &str) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut file: Option<String> = None;
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ ") {
            file = path.strip_prefix("b/").map(str::to_string).filter(|_| path != "/dev/null");
        } else if let (Some(hunk), Some(f)) = (line.strip_prefix("@@ "), &file) {
            // `@@ -a,b +c,d @@`: d lines from c (d is 1 when left out, 0 for a pure removal).
            let Some(new) = hunk.split_whitespace().find(|w| w.starts_with('+')) else { continue };
            let (start, count) = match new[1..].split_once(',') {
                Some((s, c)) => (s.parse::<u64>().unwrap_or(0), c.parse::<u64>().unwrap_or(0)),
                None => (new[1..].parse::<u64>().unwrap_or(0), 1),
            };
            out.entry(f.clone()).or_default().extend(start..start.saturating_add(count.min(1_000_000)));
        }
    }
    out
}

impl CoverageSummary {
    /// Judges the added lines against what the report measured (a report's file names are
    /// relative to its own source roots: a diff path matches the file it ends with), then lets go
    /// of the per-file lines.
    pub fn judge_changed(&mut self, added: &BTreeMap<String, Vec<u64>>, base: &str) {
        let mut c = ChangedCoverage { base: base.to_string(), ..ChangedCoverage::default() };
        for (path, lines) in added {
            let measured = self.per_file.iter().find(|(f, _)| {
                let f = f.trim_start_matches("./");
                f == path || path.ends_with(&format!("/{f}")) || f.ends_with(&format!("/{path}"))
            });
            let Some((_, hits)) = measured else { continue };
            for n in lines {
                if let Some(h) = hits.get(n) {
                    c.lines += 1;
                    c.covered += usize::from(*h > 0);
                }
            }
        }
        self.changed = Some(c);
        self.per_file = Lines::new();
    }
}

impl CoverageSummary {
    /// Lines covered, in percent (None when nothing was measured).
    pub fn percent(&self) -> Option<f64> {
        (self.lines_valid > 0).then(|| self.lines_covered as f64 * 100.0 / self.lines_valid as f64)
    }

    pub fn text(&self) -> String {
        match self.percent() {
            Some(p) => {
                let changed = self.changed.as_ref().map(|c| format!("; {}", c.text())).unwrap_or_default();
                format!("{p:.1} % of {} lines in {} files{changed}", self.lines_valid, self.files)
            }
            None => "no lines measured".to_string(),
        }
    }
}

/// Per file, each line's hits (the largest seen, when a file is reported more than once).
pub type Lines = BTreeMap<String, BTreeMap<u64, u64>>;

fn summary_of(lines: Lines, branches: (usize, usize), declared_rate: Option<f64>) -> CoverageSummary {
    let lines_valid = lines.values().map(BTreeMap::len).sum();
    let lines_covered = lines.values().flat_map(|l| l.values()).filter(|h| **h > 0).count();
    CoverageSummary {
        files: lines.len(),
        lines_valid,
        lines_covered,
        branches_valid: branches.0,
        branches_covered: branches.1,
        declared_rate,
        changed: None,
        per_file: lines,
    }
}

fn report(shown_as: &str, format: Format, tool: &str, summary: CoverageSummary) -> ParsedReport {
    ParsedReport { tool: tool.into(), coverage: Some(summary), ..ParsedReport::empty(shown_as, format) }
}

/// Cobertura XML: `<coverage line-rate=…>` with `<class filename=…>` holding `<line number hits
/// [branch condition-coverage]>`.
pub fn parse_cobertura(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the coverage report is not UTF-8: {e}"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut lines: Lines = BTreeMap::new();
    let (mut file, mut declared, mut seen_root) = (None::<String>, None, false);
    let mut branches: BTreeMap<(String, u64), (usize, usize)> = BTreeMap::new();
    // Method-level `<line>`s repeat the class's; only lines directly in a class's `<lines>` count.
    let mut in_methods = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            format!("the coverage report is not well-formed XML at byte {}: {}", reader.buffer_position(), excerpt(&e.to_string(), 200))
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                "coverage" if !seen_root => {
                    seen_root = true;
                    declared = attr(&e, "line-rate").and_then(|r| r.trim().parse::<f64>().ok()).filter(|r| (0.0..=1.0).contains(r));
                }
                "class" => file = attr(&e, "filename").or_else(|| attr(&e, "name")),
                "methods" => in_methods += 1,
                "line" if in_methods == 0 => {
                    let (Some(f), Some(n)) = (file.clone(), attr(&e, "number").and_then(|n| n.trim().parse::<u64>().ok())) else {
                        continue;
                    };
                    let hits = attr(&e, "hits").and_then(|h| h.trim().parse::<f64>().ok()).unwrap_or(0.0).max(0.0) as u64;
                    let slot = lines.entry(f.clone()).or_default().entry(n).or_insert(0);
                    *slot = (*slot).max(hits);
                    // `condition-coverage="50% (1/2)"`.
                    if attr(&e, "branch").as_deref() == Some("true")
                        && let Some(cc) = attr(&e, "condition-coverage")
                        && let Some((covered, valid)) = cc.split_once('(').and_then(|(_, r)| r.trim_end_matches(')').split_once('/'))
                        && let (Ok(c), Ok(v)) = (covered.trim().parse::<usize>(), valid.trim().parse::<usize>())
                    {
                        branches.insert((f, n), (v, c.min(v)));
                    }
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "methods" => in_methods = in_methods.saturating_sub(1),
                "class" => file = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err("no <coverage> element: not a Cobertura coverage report".into());
    }
    let b = branches.values().fold((0usize, 0usize), |(v, c), (bv, bc)| (v.saturating_add(*bv), c.saturating_add(*bc)));
    Ok(report(shown_as, Format::Cobertura, "cobertura", summary_of(lines, b, declared)))
}

/// An LCOV tracefile: `SF:` a file, `DA:line,hits[,checksum]`, `BRDA:line,block,branch,taken`,
/// `LF`/`LH` its declared totals, `end_of_record`.
pub fn parse_lcov(bytes: &[u8], shown_as: &str) -> Result<ParsedReport, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the LCOV report is not UTF-8: {e}"))?;
    let mut lines: Lines = BTreeMap::new();
    let mut branches: BTreeMap<(String, String), bool> = BTreeMap::new();
    let (mut file, mut declared_found, mut declared_hit, mut records) = (None::<String>, 0usize, 0usize, 0usize);
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let bad = || format!("line {}: `{}` is not an LCOV record", i + 1, excerpt(line, 80));
        if line.is_empty() {
            continue;
        }
        if line == "end_of_record" {
            file = None;
            continue;
        }
        let (key, value) = line.split_once(':').ok_or_else(bad)?;
        match key {
            "SF" => {
                file = Some(value.to_string());
                records += 1;
            }
            "DA" => {
                let f = file.clone().ok_or_else(|| format!("line {}: a DA record outside a file (no SF before it)", i + 1))?;
                let mut parts = value.split(',');
                let n = parts.next().and_then(|n| n.trim().parse::<u64>().ok()).ok_or_else(bad)?;
                // Some tools write a negative or fractional count for an unexecuted line.
                let hits = parts.next().and_then(|h| h.trim().parse::<f64>().ok()).ok_or_else(bad)?.max(0.0) as u64;
                let slot = lines.entry(f).or_default().entry(n).or_insert(0);
                *slot = (*slot).max(hits);
            }
            "BRDA" => {
                let f = file.clone().unwrap_or_default();
                let mut parts = value.rsplitn(2, ',');
                let taken = parts.next().unwrap_or("-").trim();
                let at = parts.next().unwrap_or_default().to_string();
                let hit = taken != "-" && taken.parse::<f64>().is_ok_and(|t| t > 0.0);
                let slot = branches.entry((f, at)).or_insert(false);
                *slot |= hit;
            }
            "LF" => declared_found = declared_found.saturating_add(value.trim().parse::<usize>().map_err(|_| bad())?),
            "LH" => declared_hit = declared_hit.saturating_add(value.trim().parse::<usize>().map_err(|_| bad())?),
            // Test names, functions, branch and function totals, versions: not needed here.
            "TN" | "FN" | "FNDA" | "FNF" | "FNH" | "BRF" | "BRH" | "VER" | "FNL" | "FNA" => {}
            _ => return Err(bad()),
        }
    }
    if records == 0 {
        return Err("no SF record: not an LCOV tracefile".into());
    }
    let declared = (declared_found > 0).then(|| declared_hit as f64 / declared_found as f64);
    let b = (branches.len(), branches.values().filter(|h| **h).count());
    Ok(report(shown_as, Format::Lcov, "lcov", summary_of(lines, b, declared)))
}
