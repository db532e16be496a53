use super::*;

fn read(lines: &[&str]) -> Sections {
    let mut s = Sections::default();
    for (i, l) in lines.iter().enumerate() {
        s.observe(i as u64, l.as_bytes());
    }
    s
}

#[test]
fn github_groups_and_workflow_commands() {
    assert_eq!(marker(b"##[group]Run npm test"), Some(Marker::Start { title: "Run npm test".into(), name: None, nests: false }));
    assert_eq!(marker(b"::group::Build"), Some(Marker::Start { title: "Build".into(), name: None, nests: false }));
    assert_eq!(marker(b"##[endgroup]"), Some(Marker::End { name: None }));
    assert_eq!(marker(b"::endgroup::"), Some(Marker::End { name: None }));
    assert_eq!(marker(b"##[error]boom"), None);
    assert_eq!(marker(b"echo ##[group] is not at the start"), None);
}

#[test]
fn gitlab_sections_behind_escapes_and_carriage_returns() {
    let start = b"\x1b[0Ksection_start:1560896352:build_app[collapsed=true]\r\x1b[0K\x1b[36;1mBuilding the app\x1b[0;m";
    assert_eq!(marker(start), Some(Marker::Start { title: "Building the app".into(), name: Some("build_app".into()), nests: true }));
    assert_eq!(marker(b"\x1b[0Ksection_end:1560896353:build_app\r\x1b[0K"), Some(Marker::End { name: Some("build_app".into()) }));
    // Without a header text, the section's name is its title.
    assert_eq!(marker(b"section_start:1:deps"), Some(Marker::Start { title: "deps".into(), name: Some("deps".into()), nests: true }));
    assert_eq!(marker(b"section_start:nocolon"), None);
    assert_eq!(
        marker(b"travis_fold:start:install\r"),
        Some(Marker::Start { title: "install".into(), name: Some("install".into()), nests: true })
    );
}

#[test]
fn hostile_titles_are_plain_text() {
    let Some(Marker::Start { title, .. }) = marker(b"##[group]\x1b]52;c;aGk=\x07evil\x1b[2Jtitle\xff") else { panic!("a group") };
    assert!(!title.contains('\u{1b}') && !title.contains('\u{7}'), "{title:?}");
    assert!(title.contains("evil") && title.contains("title"));
}

#[test]
fn groups_pair_with_their_ends_and_a_new_github_group_ends_the_open_one() {
    let s = read(&["##[group]one", "a", "##[endgroup]", "b", "##[group]two", "c", "##[group]three", "d"]);
    let got: Vec<_> = s.iter().map(|s| (s.start, s.end, s.title.to_string())).collect();
    assert_eq!(got, vec![(0, Some(2), "one".into()), (4, Some(5), "two".into()), (6, None, "three".into())]);
    assert!(s.ends_at(2) && !s.ends_at(3));
    assert_eq!(s.containing(1).map(|s| s.start), Some(0));
    assert_eq!(s.containing(3), None);
    assert_eq!(s.containing(7).map(|s| s.start), Some(6));
}

#[test]
fn gitlab_sections_nest_and_an_end_closes_those_left_open_inside() {
    let s = read(&[
        "section_start:1:outer\r\x1b[0KOuter",
        "x",
        "section_start:2:inner\r\x1b[0KInner",
        "y",
        "section_start:3:leaked\r\x1b[0KLeaked",
        "section_end:4:outer\r\x1b[0K",
        "z",
    ]);
    let got: Vec<_> = s.iter().map(|s| (s.start, s.end, s.depth)).collect();
    assert_eq!(got, vec![(0, Some(5), 0), (2, Some(5), 1), (4, Some(5), 2)]);
    assert_eq!(s.containing(3).map(|s| s.start), Some(2));
    assert_eq!(s.containing(6), None);
    // An end naming no open section changes nothing.
    let s = read(&["section_end:1:never"]);
    assert!(s.is_empty());
}

#[test]
fn folding_hides_the_body_and_keeps_the_header() {
    let s = read(&["pre", "##[group]one", "a", "b", "##[endgroup]", "mid", "##[group]two", "c", "##[endgroup]", "post"]);
    let folded: BTreeSet<u64> = [1, 6].into();
    let f = Folded { sections: &s, folded: &folded, end: 10 };
    assert_eq!(f.rows_from(0, 20), vec![0, 1, 5, 6, 9]);
    assert_eq!(f.shown(3), 1);
    assert_eq!(f.prev(5), 1);
    assert_eq!(f.next(1), 5);
    assert_eq!(f.top_for_end(3), 5);
    assert_eq!(f.down(0, 2), 5);
    assert_eq!(f.up(9, 2), 5);
    assert_eq!(f.down(6, 5), 9, "not past the last line");
    // A section still open at the end of the log hides everything after its header.
    let s = read(&["x", "##[group]open", "a", "b"]);
    let folded: BTreeSet<u64> = [1].into();
    let f = Folded { sections: &s, folded: &folded, end: 4 };
    assert_eq!(f.rows_from(0, 10), vec![0, 1]);
    assert_eq!(f.top_for_end(1), 1);
}

#[test]
fn a_folded_outer_section_hides_folded_inner_ones() {
    let s = read(&[
        "section_start:1:outer\r\x1b[0KOuter",
        "section_start:2:inner\r\x1b[0KInner",
        "y",
        "section_end:3:inner",
        "section_end:4:outer",
        "after",
    ]);
    let folded: BTreeSet<u64> = [0, 1].into();
    let f = Folded { sections: &s, folded: &folded, end: 6 };
    assert_eq!(f.rows_from(0, 10), vec![0, 5]);
    assert_eq!(f.shown(2), 0);
    assert_eq!(f.prev(5), 0);
    let only_inner: BTreeSet<u64> = [1].into();
    let f = Folded { sections: &s, folded: &only_inner, end: 6 };
    assert_eq!(f.rows_from(0, 10), vec![0, 1, 4, 5]);
}

#[test]
fn many_sections_stop_at_the_limit() {
    let mut s = Sections::default();
    for i in 0..(MAX_SECTIONS as u64 + 10) {
        s.observe(2 * i, b"##[group]g");
        s.observe(2 * i + 1, b"##[endgroup]");
    }
    assert_eq!(s.len(), MAX_SECTIONS);
    assert!(s.truncated);
}
