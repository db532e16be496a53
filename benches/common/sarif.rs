//! A large SARIF report for the benchmarks.

use std::io::Write;

/// A SARIF document shaped like Semgrep's output: rules with security-severity, results with
/// locations, fingerprints and properties.
pub fn sarif(n: usize) -> Vec<u8> {
    let mut doc = Vec::new();
    write_sarif(n, &mut doc).expect("written to memory");
    doc
}

/// The same document, written as it is made (a measuring process stays small).
pub fn write_sarif(n: usize, w: &mut impl Write) -> std::io::Result<()> {
    write!(
        w,
        r#"{{"$schema":"https://json.schemastore.org/sarif-2.1.0.json","version":"2.1.0","runs":[{{"tool":{{"driver":{{"name":"Semgrep OSS","version":"1.90.0","rules":["#
    )?;
    for r in 0..200 {
        let comma = if r > 0 { "," } else { "" };
        write!(
            w,
            r#"{comma}{{"id":"rule.{r}","shortDescription":{{"text":"Rule {r} finds a risky pattern"}},"helpUri":"https://example.test/r/{r}","properties":{{"security-severity":"{}.{}","tags":["security","CWE-{r}"]}}}}"#,
            r % 10,
            r % 9
        )?;
    }
    write!(w, r#"]}}}},"results":["#)?;
    for i in 0..n {
        let comma = if i > 0 { "," } else { "" };
        write!(
            w,
            r#"{comma}{{"ruleId":"rule.{}","ruleIndex":{},"level":"{}","message":{{"text":"Untrusted input reaches a sink in handler {i}"}},"locations":[{{"physicalLocation":{{"artifactLocation":{{"uri":"src/module_{}/file_{}.py"}},"region":{{"startLine":{},"startColumn":5}}}}}}],"partialFingerprints":{{"primaryLocationLineHash":"{:016x}"}},"properties":{{"confidence":"HIGH"}}}}"#,
            i % 200,
            i % 200,
            ["error", "warning", "note"][i % 3],
            i % 97,
            i % 1013,
            i % 4000 + 1,
            i * 2654435761
        )?;
    }
    write!(w, "]}}]}}")
}
