//! Label and field selectors, as the API server reads them.

use serde_json::Value;

/// Label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma-joined.
pub(super) fn labels_match(selector: &str, labels: &Value) -> bool {
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    terms.push(cur);
    let get = |k: &str| labels.get(k.trim()).and_then(Value::as_str).map(str::to_string);
    terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).all(|t| {
        if let Some((k, v)) = t.split_once("!=") {
            get(k).as_deref() != Some(v.trim())
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            get(k).as_deref() == Some(v.trim())
        } else if let Some((k, set)) = t.split_once(" notin ") {
            let set: Vec<&str> = set.trim().trim_matches(|c| c == '(' || c == ')').split(',').map(str::trim).collect();
            get(k).is_none_or(|v| !set.contains(&v.as_str()))
        } else if let Some((k, set)) = t.split_once(" in ") {
            let set: Vec<&str> = set.trim().trim_matches(|c| c == '(' || c == ')').split(',').map(str::trim).collect();
            get(k).is_some_and(|v| set.contains(&v.as_str()))
        } else if let Some(k) = t.strip_prefix('!') {
            get(k).is_none()
        } else {
            get(t).is_some()
        }
    })
}

pub(super) fn fields_match(selector: &str, obj: &Value) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|t| {
        let (k, v, neg) = if let Some((k, v)) = t.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            (k, v, false)
        } else {
            return false;
        };
        // The fields a real API server can select Events by, as well as every object's name.
        let actual = match k.trim() {
            "metadata.name" => obj["metadata"]["name"].as_str(),
            "metadata.namespace" => obj["metadata"]["namespace"].as_str(),
            "involvedObject.kind" => obj["involvedObject"]["kind"].as_str(),
            "involvedObject.name" => obj["involvedObject"]["name"].as_str(),
            "involvedObject.namespace" => obj["involvedObject"]["namespace"].as_str(),
            "involvedObject.uid" => obj["involvedObject"]["uid"].as_str(),
            "reason" => obj["reason"].as_str(),
            "type" => obj["type"].as_str(),
            _ => None,
        };
        (actual == Some(v.trim())) != neg
    })
}
