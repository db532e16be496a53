//! The layering of the source tree, checked: top-level modules may not depend on each other in a
//! cycle. A cycle means two modules can only be understood (and changed) together; the test names
//! the files behind every edge of the cycle it finds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules of the crate: files and folders directly under `src/`.
fn top_level(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .filter(|n| n != "lib" && n != "main")
        .collect()
}

/// Code without comments, so a doc comment naming a module is not a dependency.
fn code_of(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The top-level modules a piece of code names: `crate::x` and `crate::{x, y::z}`.
fn named_modules(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        // `flightdeck::crate::` cannot occur; skip `$crate::` from macros.
        if code[..i].ends_with('$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for part in group.split(',') {
                let name: String = part.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.insert(name);
            }
        } else {
            found.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found.retain(|m| modules.contains(m));
    found
}

/// module → module it depends on → files that make the dependency.
fn dependency_graph(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let modules = top_level(src);
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_string_lossy().to_string();
        let owner = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
        if !modules.contains(&owner) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for dep in named_modules(&code, &modules) {
            if dep != owner {
                graph.entry(owner.clone()).or_default().entry(dep).or_default().insert(rel.clone());
            }
        }
    }
    graph
}

/// A cycle in the graph, as the list of modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|deps| deps.keys()) {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_do_not_depend_on_each_other_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = dependency_graph(&src);
    // The check itself must see the crate: the model, the runtime and the views all have
    // dependencies, and the views depend on the model.
    assert!(graph.len() >= 10, "only {} modules with dependencies found: {graph:?}", graph.len());
    assert!(graph["ui"].contains_key("app"), "the views should depend on the model");
    if let Some(cycle) = find_cycle(&graph) {
        let edges: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("  {} → {} (in {})", w[0], w[1], graph[&w[0]][&w[1]].iter().cloned().collect::<Vec<_>>().join(", ")))
            .collect();
        panic!("top-level modules depend on each other in a cycle:\n{}", edges.join("\n"));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle_when_there_is_one() {
    let modules: BTreeSet<String> = ["app", "ui", "util"].iter().map(|s| s.to_string()).collect();
    let found = named_modules("use crate::{app::state, util};\n let x = crate::ui::render;", &modules);
    assert_eq!(found, modules);
    assert!(named_modules(&code_of("// see crate::ui\nfn f() {}"), &modules).is_empty());
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    graph.entry("app".into()).or_default().insert("ui".into(), BTreeSet::from(["app/update.rs".into()]));
    graph.entry("ui".into()).or_default().insert("util".into(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
    graph.entry("ui".into()).or_default().insert("app".into(), BTreeSet::from(["ui/mod.rs".into()]));
    assert_eq!(find_cycle(&graph), Some(vec!["app".to_string(), "ui".to_string(), "app".to_string()]));
}
