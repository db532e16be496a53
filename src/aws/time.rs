//! Timestamps in AWS's JSON answers: seconds since the epoch (what AWS sends), or an ISO 8601
//! string (what botocore also accepts, and what some AWS-compatible servers send).

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Either {
    Seconds(f64),
    Text(String),
}

/// For `#[serde(default, deserialize_with = "crate::aws::time::epoch")]` on an `Option<f64>`.
pub fn epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::Seconds(s)) => Some(s),
        Some(Either::Text(t)) => match t.parse::<jiff::Timestamp>() {
            Ok(ts) => Some(ts.as_millisecond() as f64 / 1000.0),
            Err(_) => t.parse::<f64>().ok(),
        },
    })
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::epoch")]
        at: Option<f64>,
    }

    #[test]
    fn seconds_and_iso_text_read_alike() {
        let read = |j: &str| serde_json::from_str::<T>(j).unwrap().at;
        assert_eq!(read(r#"{"at": 1795993126.5}"#), Some(1795993126.5));
        let iso = read(r#"{"at": "2026-11-30T00:23:53.383Z"}"#).unwrap();
        assert!((iso - 1795998233.383).abs() < 1e-6, "{iso}");
        assert_eq!(read("{}"), None);
    }
}
