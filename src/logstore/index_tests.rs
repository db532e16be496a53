use std::io::Write;
use std::sync::atomic::AtomicBool;

use super::*;

fn encoded(text: &str, n: u64) -> String {
    format!("{} o {text}\n", 1_700_000_000_000u64 + n)
}

fn write_log(path: &Path, lines: impl Iterator<Item = String>) {
    let mut f = std::io::BufWriter::new(File::create(path).unwrap());
    for l in lines {
        f.write_all(l.as_bytes()).unwrap();
    }
}

fn all_matches(log: &LogFile, pattern: &Pattern) -> Vec<u64> {
    let mut out = Vec::new();
    log.search(pattern, &AtomicBool::new(false), &mut |hits, _| out.extend_from_slice(hits)).unwrap();
    out
}

#[test]
fn every_line_is_read_back_at_and_around_the_index_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    let total = EVERY * 4 + 3;
    write_log(&path, (0..total).map(|n| encoded(&format!("line {n}"), n)));
    let log = LogFile::open(&path).unwrap();
    assert_eq!(log.len(), total);
    for from in [0, 1, EVERY - 1, EVERY, EVERY + 1, 2 * EVERY - 1, 2 * EVERY, total - 2, total - 1] {
        let lines = log.read(from, 3).unwrap();
        let want: Vec<String> = (from..(from + 3).min(total)).map(|n| format!("line {n}")).collect();
        let got: Vec<String> = lines.iter().map(|l| String::from_utf8(l.bytes.clone()).unwrap()).collect();
        assert_eq!(got, want, "from {from}");
        assert_eq!(lines[0].ts_ms, 1_700_000_000_000 + from as i64);
    }
    assert!(log.read(total, 5).unwrap().is_empty(), "past the end: nothing");
}

#[test]
fn a_line_longer_than_any_buffer_is_cut_for_display_and_does_not_shift_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    let long = "x".repeat(3 * CHUNK) + "needle-at-the-end";
    write_log(&path, [encoded("before", 0), encoded(&long, 1), encoded("after needle", 2)].into_iter());
    let log = LogFile::open(&path).unwrap();
    assert_eq!(log.len(), 3);
    let lines = log.read(1, 2).unwrap();
    assert_eq!(lines[0].bytes.len(), LINE_CAP - "1700000000001 o ".len(), "cut at the cap");
    assert_eq!(lines[1].bytes, b"after needle");
    // The search judges a giant line by its first part, and counts lines right after it.
    assert_eq!(all_matches(&log, &Pattern::literal("needle")), vec![2]);
    assert_eq!(all_matches(&log, &Pattern::literal("xxxx")), vec![1]);
}

#[test]
fn invalid_utf8_and_escape_sequences_are_read_and_matched_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"1 o \xff\xfe broken \xc3 utf8 ERROR\n");
    bytes.extend_from_slice(b"2 e \x1b[31mERR\x1b[0mOR in red\n");
    bytes.extend_from_slice(b"3 o \x1b]52;c;aGk=\x07 clipboard grab\n");
    bytes.extend_from_slice(b"4 o all fine\n");
    std::fs::write(&path, &bytes).unwrap();
    let log = LogFile::open(&path).unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(log.read(0, 1).unwrap()[0].bytes, b"\xff\xfe broken \xc3 utf8 ERROR", "raw bytes, sanitised when shown");
    assert_eq!(all_matches(&log, &Pattern::literal("error")), vec![0, 1], "colour codes do not split a word");
    assert_eq!(all_matches(&log, &Pattern::literal("52;c")), Vec::<u64>::new(), "what the view strips is not matched");
    assert_eq!(all_matches(&log, &Pattern::regex(r"^all\s+fine$").unwrap()), vec![3]);
    assert_eq!(all_matches(&log, &Pattern::literal("1")), Vec::<u64>::new(), "timestamps are not text");
}

#[test]
fn a_match_across_a_chunk_boundary_is_found_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    // Lines of 100 bytes: a chunk boundary falls inside some line, whatever CHUNK is.
    let lines: Vec<String> =
        (0..40_000u64).map(|n| encoded(&format!("{:>80}", if n % 997 == 0 { "the-needle" } else { "hay" }), n)).collect();
    write_log(&path, lines.into_iter());
    let log = LogFile::open(&path).unwrap();
    let want: Vec<u64> = (0..40_000u64).filter(|n| n % 997 == 0).collect();
    assert_eq!(all_matches(&log, &Pattern::literal("THE-NEEDLE".to_lowercase().as_str())), want);
    assert_eq!(all_matches(&log, &Pattern::regex("the-ne+dle").unwrap()), want);
    assert!(log.index_bytes() < (log.bytes() / 100) as usize, "the index is under 1 % of the log");
}

#[test]
fn a_log_growing_truncated_or_rotated_under_the_view_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    write_log(&path, (0..10).map(|n| encoded(&format!("first {n}"), n)));
    let mut log = LogFile::open(&path).unwrap();
    assert_eq!(log.len(), 10);
    // Appended, with a line still being written.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(encoded("eleventh", 10).as_bytes()).unwrap();
    f.write_all(b"11 o half a li").unwrap();
    assert_eq!(log.refresh().unwrap(), Refresh::Grew(1));
    f.write_all(b"ne\n").unwrap();
    assert_eq!(log.refresh().unwrap(), Refresh::Grew(1));
    assert_eq!(log.read(11, 1).unwrap()[0].bytes, b"half a line");
    // Truncated in place.
    std::fs::write(&path, encoded("after truncation", 0)).unwrap();
    assert_eq!(log.refresh().unwrap(), Refresh::Replaced);
    assert_eq!(log.len(), 1);
    assert_eq!(log.read(0, 1).unwrap()[0].bytes, b"after truncation");
    // Rotated: the path names a new file.
    std::fs::rename(&path, dir.path().join("job.log.1")).unwrap();
    write_log(&path, (0..3).map(|n| encoded(&format!("rotated {n}"), n)));
    assert_eq!(log.refresh().unwrap(), Refresh::Replaced);
    assert_eq!(log.len(), 3);
    assert_eq!(log.read(2, 1).unwrap()[0].bytes, b"rotated 2");
}

#[test]
fn a_search_stops_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    write_log(&path, (0..200_000u64).map(|n| encoded("some text here", n)));
    let log = LogFile::open(&path).unwrap();
    let cancel = AtomicBool::new(false);
    let mut batches = 0;
    let finished = log
        .search(&Pattern::literal("text"), &cancel, &mut |_, _| {
            batches += 1;
            cancel.store(true, Ordering::Relaxed);
        })
        .unwrap();
    assert!(!finished);
    assert_eq!(batches, 1);
}

#[test]
fn an_anchored_regex_matches_the_text_of_each_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    write_log(&path, (0..300u64).map(|n| encoded(&format!("line {}", 150_000 + n), n)));
    let log = LogFile::open(&path).unwrap();
    assert_eq!(all_matches(&log, &Pattern::regex("^line 1500[0-9][0-9]$").unwrap()).len(), 100);
}

#[test]
fn a_time_is_found_by_its_first_line_at_or_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    // Ten lines a second stamp, for 2,000 lines.
    write_log(&path, (0..2_000u64).map(|n| format!("{} o line {n}\n", 1_700_000_000_000u64 + n / 10 * 1000)));
    let log = LogFile::open(&path).unwrap();
    assert_eq!(log.first_at_or_after(0).unwrap(), 0);
    assert_eq!(log.first_at_or_after(1_700_000_000_000 + 37_000).unwrap(), 370);
    assert_eq!(log.first_at_or_after(1_700_000_000_000 + 36_500).unwrap(), 370, "between two stamps: the next one");
    assert_eq!(log.first_at_or_after(1_700_000_000_000 + 150_000).unwrap(), 1_500);
    assert_eq!(log.first_at_or_after(i64::MAX - 1).unwrap(), 2_000, "after the end: the end");
}

/// Section markers are found wherever they fall: one straddling two chunks of the index's reads,
/// one written in two parts (its line finished later), and in a long log, far from the start.
#[test]
fn sections_are_found_across_chunk_boundaries_and_as_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    // Pad the first line so that the marker of the second straddles the first chunk's end.
    let before_needle = encoded("##[", 1).len() - 1; // the second line's bytes before `group`
    let pad = "x".repeat(CHUNK - 2 - before_needle - encoded("", 0).len());
    let mut text = encoded(&pad, 0);
    text.push_str(&encoded("##[group]Straddling", 1));
    let needle = text.find("group]").unwrap();
    assert!(needle < CHUNK && needle + 5 > CHUNK, "the needle straddles the first chunk's end: {needle}");
    text.push_str(&encoded("inside", 2));
    text.push_str(&encoded("##[endgroup]", 3));
    for n in 4..(4 + 3 * EVERY) {
        text.push_str(&encoded("filler", n));
    }
    std::fs::write(&path, &text).unwrap();
    let mut log = LogFile::open(&path).unwrap();
    let (sections, v1) = log.sections();
    let got: Vec<_> = sections.iter().map(|s| (s.start, s.end, s.title.to_string())).collect();
    assert_eq!(got, vec![(1, Some(3), "Straddling".to_string())]);

    // A GitLab section begun in a line written in two parts.
    let start = 4 + 3 * EVERY;
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    let line = encoded("\x1b[0Ksection_start:1:deploy\r\x1b[0KDeploying", start);
    let (a, b) = line.split_at(line.len() / 2);
    f.write_all(a.as_bytes()).unwrap();
    log.refresh().unwrap();
    assert_eq!(log.sections().0.len(), 1, "an unfinished line is not read yet");
    f.write_all(b.as_bytes()).unwrap();
    f.write_all(encoded("steps", start + 1).as_bytes()).unwrap();
    log.refresh().unwrap();
    let (sections, v2) = log.sections();
    assert_ne!(v1, v2, "a new version when the sections change");
    let deploy = sections.iter().nth(1).unwrap();
    assert_eq!((deploy.start, deploy.end, &*deploy.title), (start, None, "Deploying"));
    f.write_all(encoded("\x1b[0Ksection_end:2:deploy\r\x1b[0K", start + 2).as_bytes()).unwrap();
    log.refresh().unwrap();
    assert_eq!(log.sections().0.iter().nth(1).unwrap().end, Some(start + 2));
    // A refresh that finds nothing new keeps the version.
    let (_, v3) = log.sections();
    log.refresh().unwrap();
    assert_eq!(log.sections().1, v3);
}

/// A search reads the file while windows of it are read (the view scrolling): neither moves the
/// other, so the line numbers found stay right.
#[test]
fn a_search_counts_lines_right_while_windows_are_read_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.log");
    let total = 200_000u64; // several chunks
    write_log(&path, (0..total).map(|n| encoded(&format!("{} line {n}", if n % 9_999 == 0 { "needle" } else { "hay" }), n)));
    let log = LogFile::open(&path).unwrap();
    let snapshot = log.snapshot().unwrap();
    let mut hits = Vec::new();
    let mut reads = 0;
    snapshot
        .search(&Pattern::literal("needle"), &AtomicBool::new(false), &mut |found, _| {
            hits.extend_from_slice(found);
            // The view reads a window far away meanwhile.
            let w = log.read(total - 10, 5).unwrap();
            assert_eq!(w[0].bytes, format!("hay line {}", total - 10).into_bytes());
            reads += 1;
        })
        .unwrap();
    assert!(reads > 2, "the search went chunk by chunk: {reads}");
    assert_eq!(hits, (0..total).filter(|n| n % 9_999 == 0).collect::<Vec<_>>());
}
