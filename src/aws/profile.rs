//! The shared AWS config and credentials files (`~/.aws/config`, `~/.aws/credentials`): INI
//! sections of `key = value`, read as the CLI reads them (`[profile NAME]` in the config file,
//! `[NAME]` in the credentials file, `[sso-session NAME]`).

use std::collections::BTreeMap;
use std::path::PathBuf;

pub type Section = BTreeMap<String, String>;

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn home_file(var: &str, default: &str) -> Option<PathBuf> {
    env(var).map(PathBuf::from).or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join(default)))
}

pub fn config_file() -> Option<PathBuf> {
    home_file("AWS_CONFIG_FILE", ".aws/config")
}

pub fn credentials_file() -> Option<PathBuf> {
    home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")
}

/// The profile asked for, else `AWS_PROFILE`, else `default`.
pub fn profile_name(profile: Option<&str>) -> String {
    profile.map(str::to_string).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into())
}

/// Every section of an INI file (comments and blank lines skipped; later keys win).
pub fn sections(text: &str) -> BTreeMap<String, Section> {
    let mut out: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            out.entry(section.clone()).or_default().insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// The file's sections, or None when it does not exist; unreadable is an error.
pub fn read(path: &PathBuf) -> Result<Option<BTreeMap<String, Section>>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(sections(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{} cannot be read ({e})", path.display())),
    }
}

/// A profile's settings in the config file (`[default]` or `[profile NAME]`).
pub fn config_profile(name: &str) -> Result<Option<Section>, String> {
    let Some(file) = config_file() else { return Ok(None) };
    let Some(all) = read(&file)? else { return Ok(None) };
    let key = if name == "default" { "default".to_string() } else { format!("profile {name}") };
    Ok(all.get(&key).or_else(|| (name == "default").then(|| all.get("profile default")).flatten()).cloned())
}

/// An `[sso-session NAME]` of the config file.
pub fn sso_session(name: &str) -> Result<Option<Section>, String> {
    let Some(file) = config_file() else { return Ok(None) };
    Ok(read(&file)?.and_then(|all| all.get(&format!("sso-session {name}")).cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_as_the_cli_reads_them() {
        let s = sections(
            "# c\n[default]\nregion = eu-west-1\n[profile  release]\nsso_session=corp\n; note\n[sso-session corp]\nsso_region = eu-west-1\n",
        );
        assert_eq!(s["default"]["region"], "eu-west-1");
        assert_eq!(s["profile release"]["sso_session"], "corp");
        assert_eq!(s["sso-session corp"]["sso_region"], "eu-west-1");
    }
}
