//! A build's log, as `gcloud builds log --stream` reads it: the object `log-ID.txt` in the build's
//! logs bucket, read from where the last read ended (a ranged read), each line given to the step
//! that wrote it (`Step #N - "id": …`, `Step #N: …`).

use crate::logstore::{RawLine, Stream};

/// Where a build's log object is: (bucket, object).
pub fn object(logs_bucket: &str, build: &str) -> Option<(String, String)> {
    let rest = logs_bucket.strip_prefix("gs://")?.trim_end_matches('/');
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let object = if prefix.is_empty() { format!("log-{build}.txt") } else { format!("{prefix}/log-{build}.txt") };
    (!bucket.is_empty()).then(|| (bucket.to_string(), object))
}

/// Where an uploaded artifact file is: `location` (`gs://bucket/folder/`) and its file name.
pub fn artifact(location: &str, name: &str) -> Option<(String, String)> {
    let rest = location.strip_prefix("gs://")?;
    let (bucket, folder) = rest.split_once('/').unwrap_or((rest, ""));
    let folder = folder.trim_end_matches('/');
    let file = name.rsplit('/').next().unwrap_or(name);
    let object = if folder.is_empty() { file.to_string() } else { format!("{folder}/{file}") };
    (!bucket.is_empty() && !file.is_empty()).then(|| (bucket.to_string(), object))
}

/// The JSON API's media URL of an object.
pub fn media_url(storage: &str, bucket: &str, object: &str) -> String {
    format!("{storage}/storage/v1/b/{}/o/{}?alt=media", encode(bucket), encode(object))
}

/// Percent-encoding of a path segment (an object name's `/` included, as the JSON API wants).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Which step wrote a line, and the line without its prefix. Lines of the build itself
/// (`FETCHSOURCE`, `PUSH`, `DONE`) belong to no step.
pub fn attribute(line: &str) -> Option<(usize, &str, Stream)> {
    for (marker, stream) in [("Starting Step #", Stream::Meta), ("Finished Step #", Stream::Meta), ("Step #", Stream::Out)] {
        let Some(rest) = line.strip_prefix(marker) else { continue };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let step: usize = rest[..digits].parse().ok()?;
        if stream == Stream::Meta {
            return Some((step, line, Stream::Meta));
        }
        let after = &rest[digits..];
        // `Step #N - "id": text` or `Step #N: text`.
        let text = match after.strip_prefix(" - \"") {
            Some(named) => named.split_once("\": ").map(|(_, t)| t).or_else(|| named.strip_suffix("\":")).unwrap_or(""),
            None => after.strip_prefix(": ").or_else(|| after.strip_prefix(':')).unwrap_or(after),
        };
        return Some((step, text, Stream::Out));
    }
    None
}

/// Complete lines of `bytes` (the rest, a line still being written, is left for the next read
/// unless `finished`), each with the step that wrote it; and how many bytes were used.
pub fn lines(bytes: &[u8], finished: bool) -> (Vec<(Option<usize>, RawLine)>, usize) {
    let used = if finished { bytes.len() } else { bytes.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0) };
    let now = jiff::Timestamp::now().as_millisecond();
    let out = bytes[..used]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let text = String::from_utf8_lossy(l);
            let text = text.trim_end_matches('\r');
            match attribute(text) {
                Some((step, body, stream)) => (Some(step), RawLine { ts_ms: now, stream, bytes: body.as_bytes().to_vec() }),
                None => (None, RawLine { ts_ms: now, stream: Stream::Meta, bytes: text.as_bytes().to_vec() }),
            }
        })
        .collect();
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_goes_to_the_step_that_wrote_it() {
        let log = b"starting build \"b1\"\n\nFETCHSOURCE\nStarting Step #0 - \"unit\"\nStep #0 - \"unit\": ok  \tpay\t0.4s\n\
Finished Step #0 - \"unit\"\nStep #1: Pulling image\nStep #12 - \"push\": digest: sha256:ab\nDONE\nStep #1: half a li";
        let (lines, used) = lines(log, false);
        let text: Vec<(Option<usize>, String)> = lines.iter().map(|(s, l)| (*s, String::from_utf8_lossy(&l.bytes).into_owned())).collect();
        assert_eq!(text[0], (None, "starting build \"b1\"".into()));
        assert_eq!(text[2], (Some(0), "Starting Step #0 - \"unit\"".into()));
        assert_eq!(text[3], (Some(0), "ok  \tpay\t0.4s".into()));
        assert_eq!(text[5], (Some(1), "Pulling image".into()));
        assert_eq!(text[6], (Some(12), "digest: sha256:ab".into()));
        assert_eq!(text.len(), 8, "the half-written line waits: {text:?}");
        assert_eq!(used, log.len() - "Step #1: half a li".len());
    }

    #[test]
    fn the_log_object_is_where_cloud_build_writes_it() {
        assert_eq!(object("gs://123_cloudbuild/logs", "b1"), Some(("123_cloudbuild".into(), "logs/log-b1.txt".into())));
        assert_eq!(object("gs://bucket", "b1"), Some(("bucket".into(), "log-b1.txt".into())));
        assert_eq!(media_url("http://s", "b", "logs/log-b1.txt"), "http://s/storage/v1/b/b/o/logs%2Flog-b1.txt?alt=media");
    }
}
