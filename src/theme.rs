//! Themes: semantic colour roles loaded from TOML (built in, or overridden from the user's config
//! directory), downgraded to what the terminal can show, or dropped entirely for `NO_COLOR`.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../themes/dark.toml")),
    ("light", include_str!("../themes/light.toml")),
    ("high-contrast", include_str!("../themes/high-contrast.toml")),
    ("colorblind", include_str!("../themes/colorblind.toml")),
    ("mono", include_str!("../themes/mono.toml")),
];

/// A theme file: every role is optional and falls back to the `dark` theme's value.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThemeSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub colors: Roles,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Roles {
    pub text: Option<String>,
    pub muted: Option<String>,
    pub accent: Option<String>,
    pub border: Option<String>,
    pub selection: Option<String>,
    pub selection_fg: Option<String>,
    pub highlight: Option<String>,
    pub success: Option<String>,
    pub failure: Option<String>,
    pub running: Option<String>,
    pub pending: Option<String>,
    pub paused: Option<String>,
    pub aborted: Option<String>,
    pub warning: Option<String>,
    pub info: Option<String>,
    pub env_prod: Option<String>,
    pub env_staging: Option<String>,
    pub env_other: Option<String>,
}

impl ThemeSpec {
    pub fn builtin(name: &str) -> Option<ThemeSpec> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        toml::from_str(text).ok()
    }

    /// `config_dir/themes/NAME.toml` if present (it overrides a built-in of the same name), else the
    /// built-in theme.
    pub fn load(name: &str, config_dir: Option<&Path>) -> Result<ThemeSpec, String> {
        if let Some(dir) = config_dir {
            let path = dir.join("themes").join(format!("{name}.toml"));
            if path.exists() {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read theme {}: {e}", path.display()))?;
                let spec: ThemeSpec = toml::from_str(&text).map_err(|e| {
                    let (line, col) = e.span().map(|s| crate::util::line_col(&text, s.start)).unwrap_or((1, 1));
                    format!("{}:{line}:{col}: {}", path.display(), e.message().trim())
                })?;
                spec.validate().map_err(|e| format!("{}: {e}", path.display()))?;
                return Ok(spec);
            }
        }
        ThemeSpec::builtin(name).ok_or_else(|| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            format!("unknown theme `{name}` (built in: {}; or put {name}.toml in the config directory's themes/)", names.join(", "))
        })
    }

    fn validate(&self) -> Result<(), String> {
        for (role, value) in self.colors.entries() {
            if let Some(v) = value {
                parse_color(v).map_err(|e| format!("colors.{role}: {e}"))?;
            }
        }
        Ok(())
    }
}

impl Roles {
    fn entries(&self) -> [(&'static str, &Option<String>); 18] {
        [
            ("text", &self.text),
            ("muted", &self.muted),
            ("accent", &self.accent),
            ("border", &self.border),
            ("selection", &self.selection),
            ("selection-fg", &self.selection_fg),
            ("highlight", &self.highlight),
            ("success", &self.success),
            ("failure", &self.failure),
            ("running", &self.running),
            ("pending", &self.pending),
            ("paused", &self.paused),
            ("aborted", &self.aborted),
            ("warning", &self.warning),
            ("info", &self.info),
            ("env-prod", &self.env_prod),
            ("env-staging", &self.env_staging),
            ("env-other", &self.env_other),
        ]
    }
}

/// `none`/`reset`, a named ANSI colour, `#rrggbb`, or `color0`..`color255`.
pub fn parse_color(text: &str) -> Result<Option<Color>, String> {
    let t = text.trim().to_ascii_lowercase();
    let c = match t.as_str() {
        "none" | "reset" | "default" => return Ok(None),
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        hex if hex.starts_with('#') && hex.len() == 7 => {
            let v = u32::from_str_radix(&hex[1..], 16).map_err(|_| format!("`{text}` is not a #rrggbb colour"))?;
            Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
        }
        idx if idx.starts_with("color") => Color::Indexed(idx[5..].parse().map_err(|_| format!("`{text}`: expected color0..color255"))?),
        _ => {
            return Err(format!("`{text}` is not a colour (use a name like green, #rrggbb, color123 or none)"));
        }
    };
    Ok(Some(c))
}

/// How many colours the terminal gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    None,
    Indexed,
    TrueColor,
}

/// `--color` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves `--color` against `NO_COLOR` and `COLORTERM`.
    pub fn depth(self) -> ColorDepth {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        match self {
            ColorChoice::Never => ColorDepth::None,
            ColorChoice::Auto if no_color => ColorDepth::None,
            _ => match std::env::var("COLORTERM").as_deref() {
                Ok("truecolor") | Ok("24bit") => ColorDepth::TrueColor,
                _ => ColorDepth::Indexed,
            },
        }
    }
}

/// Semantic roles used by the views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Text,
    Muted,
    Accent,
    Border,
    Highlight,
    Success,
    Failure,
    Running,
    Pending,
    Paused,
    Aborted,
    Warning,
    Info,
    EnvProd,
    EnvStaging,
    EnvOther,
}

/// The resolved theme the renderer reads.
#[derive(Clone, Debug)]
pub struct Theme {
    pub name: String,
    pub depth: ColorDepth,
    colors: [Option<Color>; 16],
    selection: Option<Color>,
    selection_fg: Option<Color>,
}

impl Theme {
    pub fn new(spec: &ThemeSpec, depth: ColorDepth) -> Theme {
        let fallback = ThemeSpec::builtin("dark").unwrap_or_default();
        let pick = |own: &Option<String>, base: &Option<String>| -> Option<Color> {
            let text = own.as_ref().or(base.as_ref())?;
            let c = parse_color(text).ok().flatten()?;
            downgrade(c, depth)
        };
        let (r, f) = (&spec.colors, &fallback.colors);
        // Mono and other themes that say `none` must not inherit colours from dark.
        let pick_role = |own: &Option<String>, base: &Option<String>| {
            if spec.name == "mono" { pick(own, &None) } else { pick(own, base) }
        };
        Theme {
            name: spec.name.clone(),
            depth,
            colors: [
                pick_role(&r.text, &f.text),
                pick_role(&r.muted, &f.muted),
                pick_role(&r.accent, &f.accent),
                pick_role(&r.border, &f.border),
                pick_role(&r.highlight, &f.highlight),
                pick_role(&r.success, &f.success),
                pick_role(&r.failure, &f.failure),
                pick_role(&r.running, &f.running),
                pick_role(&r.pending, &f.pending),
                pick_role(&r.paused, &f.paused),
                pick_role(&r.aborted, &f.aborted),
                pick_role(&r.warning, &f.warning),
                pick_role(&r.info, &f.info),
                pick_role(&r.env_prod, &f.env_prod),
                pick_role(&r.env_staging, &f.env_staging),
                pick_role(&r.env_other, &f.env_other),
            ],
            selection: pick_role(&r.selection, &f.selection),
            selection_fg: pick_role(&r.selection_fg, &f.selection_fg),
        }
    }

    /// A colourless theme (tests, `--color never`).
    pub fn mono() -> Theme {
        Theme::new(&ThemeSpec::builtin("mono").unwrap_or_default(), ColorDepth::None)
    }

    pub fn colours(&self) -> bool {
        self.depth != ColorDepth::None
    }

    pub fn fg(&self, role: Role) -> Style {
        let s = Style::default();
        match self.colors[role as usize] {
            Some(c) => s.fg(c),
            None => s,
        }
    }

    /// Status roles are bold so they stand out without colour too.
    pub fn status(&self, role: Role) -> Style {
        self.fg(role).add_modifier(Modifier::BOLD)
    }

    pub fn selection(&self) -> Style {
        match self.selection {
            Some(bg) => {
                let s = Style::default().bg(bg).add_modifier(Modifier::BOLD);
                match self.selection_fg {
                    Some(fg) => s.fg(fg),
                    None => s,
                }
            }
            None => Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        }
    }

    /// Search matches: highlighted background, or underline+bold without colour.
    pub fn highlight(&self) -> Style {
        match self.colors[Role::Highlight as usize] {
            Some(c) => Style::default().bg(c).fg(Color::Black),
            None => Style::default().add_modifier(Modifier::UNDERLINED | Modifier::BOLD | Modifier::REVERSED),
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused { self.fg(Role::Accent).add_modifier(Modifier::BOLD) } else { self.fg(Role::Border) }
    }

    pub fn disabled(&self) -> Style {
        self.fg(Role::Muted).add_modifier(Modifier::DIM | Modifier::CROSSED_OUT)
    }
}

fn downgrade(c: Color, depth: ColorDepth) -> Option<Color> {
    match (depth, c) {
        (ColorDepth::None, _) => None,
        (ColorDepth::Indexed, Color::Rgb(r, g, b)) => Some(Color::Indexed(rgb_to_256(r, g, b))),
        _ => Some(c),
    }
}

/// Nearest entry of the xterm 256-colour palette (6×6×6 cube or grey ramp).
pub fn rgb_to_256(r: u8, g: u8, b: u8) -> u8 {
    let to_cube = |v: u8| {
        if v < 48 {
            0
        } else if v < 115 {
            1
        } else {
            (v - 35) / 40
        }
    };
    let (cr, cg, cb) = (to_cube(r), to_cube(g), to_cube(b));
    let level = |i: u8| if i == 0 { 0 } else { 55 + 40 * i as i32 };
    let cube_err = (level(cr) - r as i32).pow(2) + (level(cg) - g as i32).pow(2) + (level(cb) - b as i32).pow(2);
    let avg = (r as i32 + g as i32 + b as i32) / 3;
    let grey_idx = if avg > 238 { 23 } else { ((avg - 3).max(0) / 10) as u8 };
    let grey = 8 + 10 * grey_idx as i32;
    let grey_err = (grey - r as i32).pow(2) + (grey - g as i32).pow(2) + (grey - b as i32).pow(2);
    if grey_err < cube_err { 232 + grey_idx } else { 16 + 36 * cr + 6 * cg + cb }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_validates() {
        for (name, text) in BUILTIN {
            let spec: ThemeSpec = toml::from_str(text).unwrap_or_else(|e| panic!("theme {name}: {e}"));
            spec.validate().unwrap_or_else(|e| panic!("theme {name}: {e}"));
            assert_eq!(&spec.name, name);
        }
    }

    #[test]
    fn no_colour_keeps_emphasis() {
        let t = Theme::new(&ThemeSpec::builtin("dark").unwrap(), ColorDepth::None);
        assert_eq!(t.fg(Role::Success).fg, None);
        assert!(t.status(Role::Failure).add_modifier.contains(Modifier::BOLD));
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn rgb_downgrades_to_the_cube() {
        assert_eq!(rgb_to_256(255, 0, 0), 196);
        assert_eq!(rgb_to_256(0, 0, 0), 16);
        assert_eq!(rgb_to_256(128, 128, 128), 244);
    }

    #[test]
    fn unknown_theme_is_explained() {
        let e = ThemeSpec::load("neon", None).unwrap_err();
        assert!(e.contains("unknown theme `neon`"));
    }
}
