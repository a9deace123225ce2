//! `mes.toml`: how this MES process runs (database, data folder, web address, plant time zone,
//! shift calendar, which lines it collects and from which profile). What the plant *is* lives in
//! `plc-profiles/`; per-invocation knobs are command-line flags.
//!
//! Parsed in two steps: raw serde structs with spans and `deny_unknown_fields`, then validated
//! into typed values, collecting every problem with its file, line, column and key. Relative
//! paths are resolved against the config file's folder, never the current directory.
//! Environment variables override the file: `MES_DATABASE_URL`, `MES_DATA_DIR`,
//! `MES_WEB_LISTEN`, `MES_TIME_ZONE`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use plc_contract::source::ProblemSink;
use serde::Deserialize;
use toml::Spanned;

use crate::domain::ids::LineId;
use crate::domain::shift::{DEFAULT_TIME_ZONE, PlannedBreak, ShiftCalendar, ShiftDef};

/// Default data folder (SQLite file, certificates, exports), relative to where `mes` runs when
/// no config file is given.
pub const DEFAULT_DATA_DIR: &str = "mes-data";
/// Default dashboard address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Explicit database URL; `None` means the SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// Data folder.
    pub data_dir: PathBuf,
    /// Dashboard and API address.
    pub web_listen: SocketAddr,
    /// Plant time zone and shifts.
    pub calendar: ShiftCalendar,
    /// Lines this process collects, each with its profile file.
    pub lines: Vec<LineConfig>,
    /// When `mes serve` closes periods into the audit ledger.
    pub audit: AuditConfig,
    /// Report templates and the automatic shift reports.
    pub reports: ReportsConfig,
    /// The local outbox a collector host keeps records in while the central database is away.
    pub outbox: OutboxConfig,
    /// Language of the terminal's dates and times (plant time, day first in Vietnamese) and of
    /// `mes report` (`--lang` or `MES_LANG`; English by default).
    pub lang: crate::present::i18n::Lang,
}

/// `[reports]`: where report templates are read from and whether ended shifts are reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportsConfig {
    /// Folder of templates overriding the built-in copies (relative to the config file);
    /// `None`: `./reports` when it exists, else the built-in copies.
    pub templates: Option<PathBuf>,
    /// Whether `mes serve`/`mes demo` write each ended shift's report into `<data-dir>/reports`.
    pub auto: bool,
    /// Language of the automatic reports.
    pub lang: crate::present::i18n::Lang,
}

/// `[audit]`: closing periods into the investor ledger as they end.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditConfig {
    /// Whether `mes serve` and `mes demo` close periods themselves (else only `mes audit close`).
    pub auto_close: bool,
    /// How long after a period ends it is closed: time for collectors to drain what the PLCs
    /// still buffer, so late records are rare (they are supplemented, never lost).
    pub grace: chrono::Duration,
    /// Shifts or plant-local days.
    pub period: crate::domain::ledger::PeriodKind,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            auto_close: true,
            grace: chrono::Duration::minutes(DEFAULT_GRACE_MINUTES),
            period: crate::domain::ledger::PeriodKind::Shift,
        }
    }
}

/// `[outbox]`: store-and-forward on a collector host (see `store::StoreAndForward`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxConfig {
    /// `Some(true)`: always; `Some(false)`: never (collectors stop acknowledging while the
    /// database is away); `None`: when collecting into PostgreSQL (a SQLite store is local
    /// already).
    pub enabled: Option<bool>,
    /// The most the outbox may hold, in bytes; when full, records are no longer acknowledged.
    pub capacity_bytes: u64,
}

/// Default `[outbox] max_kb`: 1 GiB, about a day of a busy line's records.
pub const DEFAULT_OUTBOX_KB: u64 = 1024 * 1024;

impl Default for OutboxConfig {
    fn default() -> Self {
        Self { enabled: None, capacity_bytes: DEFAULT_OUTBOX_KB * 1024 }
    }
}

/// Default `[audit] grace_minutes`.
pub const DEFAULT_GRACE_MINUTES: i64 = 15;

/// A line to collect and the profile describing its PLCs.
#[derive(Debug, Clone, PartialEq)]
pub struct LineConfig {
    /// Line code.
    pub code: LineId,
    /// Profile file, absolute or relative to the config file.
    pub profile: PathBuf,
}

/// One thing wrong in a config file, with where (`file:line:column: key: message`).
pub type ConfigProblem = plc_contract::source::SourceProblem;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// File.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key/type the format does not have (toml's message names line and
    /// column).
    #[error("{}: {message}", path.display())]
    Syntax {
        /// File.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// Valid TOML with invalid values; every problem is listed.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The problems.
        problems: Vec<ConfigProblem>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database_url: Option<Spanned<String>>,
    data_dir: Option<Spanned<String>>,
    #[serde(default)]
    web: RawWeb,
    #[serde(default)]
    plant: RawPlant,
    #[serde(default)]
    lines: Vec<RawLine>,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    reports: RawReports,
    #[serde(default)]
    outbox: RawOutbox,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    enabled: Option<bool>,
    max_kb: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReports {
    templates: Option<Spanned<String>>,
    auto: Option<bool>,
    lang: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    auto_close: Option<bool>,
    grace_minutes: Option<Spanned<i64>>,
    period: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    listen: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlant {
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    shifts: Vec<RawShift>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShift {
    name: Spanned<String>,
    start: Spanned<String>,
    end: Spanned<String>,
    #[serde(default)]
    breaks: Vec<RawBreak>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreak {
    start: Spanned<String>,
    end: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    code: Spanned<String>,
    profile: Spanned<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            web_listen: DEFAULT_LISTEN.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            calendar: ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE),
            lines: Vec::new(),
            audit: AuditConfig::default(),
            reports: ReportsConfig { templates: None, auto: true, lang: crate::present::i18n::Lang::En },
            outbox: OutboxConfig::default(),
            lang: crate::present::i18n::Lang::En,
        }
    }
}

impl Config {
    /// Reads and validates a config file, then applies environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config = Self::parse(path, &text)?;
        config.apply_env(|key| std::env::var(key).ok())?;
        Ok(config)
    }

    /// Validates config text; `path` is used for messages and to resolve relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut sink = ProblemSink::new(path, text);
        let mut problem = |span: std::ops::Range<usize>, key: String, message: String| sink.at(span, key, message);
        let mut config = Config::default();

        if let Some(url) = raw.database_url {
            match crate::store::backend_of(url.get_ref()) {
                Ok(_) => config.database_url = Some(url.get_ref().clone()),
                Err(e) => problem(url.span(), "database_url".into(), e.to_string()),
            }
        }
        if let Some(dir) = raw.reports.templates {
            config.reports.templates = Some(base.join(dir.get_ref()));
        }
        if let Some(auto) = raw.reports.auto {
            config.reports.auto = auto;
        }
        if let Some(lang) = raw.reports.lang {
            match lang.get_ref().as_str() {
                "en" => config.reports.lang = crate::present::i18n::Lang::En,
                "vi" => config.reports.lang = crate::present::i18n::Lang::Vi,
                other => problem(lang.span(), "reports.lang".into(), format!("{other:?} is not \"en\" or \"vi\"")),
            }
        }
        if let Some(dir) = raw.data_dir {
            config.data_dir = base.join(dir.get_ref());
        } else {
            config.data_dir = base.join(DEFAULT_DATA_DIR);
        }
        if let Some(listen) = raw.web.listen {
            match listen.get_ref().parse() {
                Ok(addr) => config.web_listen = addr,
                Err(_) => problem(
                    listen.span(),
                    "web.listen".into(),
                    format!("{:?} is not an address like 127.0.0.1:8080", listen.get_ref()),
                ),
            }
        }
        if let Some(tz) = raw.plant.time_zone {
            match tz.get_ref().parse::<Tz>() {
                Ok(zone) => config.calendar.time_zone = zone,
                Err(_) => problem(
                    tz.span(),
                    "plant.time_zone".into(),
                    format!("{:?} is not an IANA time zone (e.g. Asia/Ho_Chi_Minh)", tz.get_ref()),
                ),
            }
        }
        if !raw.plant.shifts.is_empty() {
            let mut shifts = Vec::new();
            for (i, s) in raw.plant.shifts.iter().enumerate() {
                let mut time =
                    |field: &str, value: &Spanned<String>| match NaiveTime::parse_from_str(value.get_ref(), "%H:%M") {
                        Ok(t) => Some(t),
                        Err(_) => {
                            problem(
                                value.span(),
                                format!("plant.shifts[{i}].{field}"),
                                format!("{:?} is not a time like 06:00", value.get_ref()),
                            );
                            None
                        }
                    };
                let (start, end) = (time("start", &s.start), time("end", &s.end));
                let times: Vec<_> = s
                    .breaks
                    .iter()
                    .enumerate()
                    .map(|(k, b)| {
                        (time(&format!("breaks[{k}].start"), &b.start), time(&format!("breaks[{k}].end"), &b.end))
                    })
                    .collect();
                let mut breaks = Vec::new();
                for (k, (b, times)) in s.breaks.iter().zip(times).enumerate() {
                    let (Some(bs), Some(be), Some(ss), Some(se)) = (times.0, times.1, start, end) else { continue };
                    // Minutes from the shift's start, so a night shift's 02:00 break lies inside it.
                    let offset = |t: NaiveTime| (t - ss).num_minutes().rem_euclid(24 * 60);
                    let length = if se == ss { 0 } else { offset(se) };
                    if offset(bs) < offset(be) && offset(be) <= length {
                        breaks.push(PlannedBreak { start: bs, end: be });
                    } else {
                        problem(
                            b.start.span(),
                            format!("plant.shifts[{i}].breaks[{k}]"),
                            format!("{bs}–{be} does not lie inside the shift {ss}–{se}"),
                        );
                    }
                }
                if s.name.get_ref().trim().is_empty() {
                    problem(s.name.span(), format!("plant.shifts[{i}].name"), "is empty".into());
                }
                if let (Some(start), Some(end)) = (start, end) {
                    if start == end {
                        problem(
                            s.end.span(),
                            format!("plant.shifts[{i}].end"),
                            "equals start; a shift needs a length".into(),
                        );
                    }
                    shifts.push(ShiftDef { name: s.name.get_ref().clone(), start, end, breaks });
                }
            }
            config.calendar.shifts = shifts;
        }
        for (i, l) in raw.lines.iter().enumerate() {
            match LineId::parse(l.code.get_ref().clone()) {
                Ok(code) => {
                    if config.lines.iter().any(|c: &LineConfig| c.code == code) {
                        problem(l.code.span(), format!("lines[{i}].code"), format!("line {code} is listed twice"));
                    }
                    config.lines.push(LineConfig { code, profile: base.join(l.profile.get_ref()) });
                }
                Err(e) => problem(l.code.span(), format!("lines[{i}].code"), e.to_string()),
            }
        }
        if let Some(auto) = raw.audit.auto_close {
            config.audit.auto_close = auto;
        }
        if let Some(grace) = raw.audit.grace_minutes {
            match *grace.get_ref() {
                m @ 0..=1440 => config.audit.grace = chrono::Duration::minutes(m),
                m => problem(grace.span(), "audit.grace_minutes".into(), format!("{m} is not 0 to 1440 minutes")),
            }
        }
        if let Some(period) = raw.audit.period {
            match period.get_ref().as_str() {
                "shift" => config.audit.period = crate::domain::ledger::PeriodKind::Shift,
                "day" => config.audit.period = crate::domain::ledger::PeriodKind::Day,
                other => {
                    problem(period.span(), "audit.period".into(), format!("{other:?} is not \"shift\" or \"day\""))
                }
            }
        }
        config.outbox.enabled = raw.outbox.enabled;
        if let Some(kb) = raw.outbox.max_kb {
            match u64::try_from(*kb.get_ref()) {
                Ok(kb @ 1..) => config.outbox.capacity_bytes = kb.saturating_mul(1024),
                _ => problem(
                    kb.span(),
                    "outbox.max_kb".into(),
                    format!("{} is not a positive size in KiB", kb.get_ref()),
                ),
            }
        }
        let problems = sink.problems;
        if problems.is_empty() { Ok(config) } else { Err(ConfigError::Invalid { problems }) }
    }

    /// Applies `MES_*` environment overrides (given as a lookup so tests need not touch the
    /// process environment).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut env_problem = |key: &str, message: String| {
            problems.push(ConfigProblem {
                path: PathBuf::from("<environment>"),
                line: 0,
                column: 0,
                field: key.into(),
                message,
            });
        };
        if let Some(url) = env("MES_DATABASE_URL").filter(|v| !v.is_empty()) {
            match crate::store::backend_of(&url) {
                Ok(_) => self.database_url = Some(url),
                Err(e) => env_problem("MES_DATABASE_URL", e.to_string()),
            }
        }
        if let Some(dir) = env("MES_DATA_DIR").filter(|v| !v.is_empty()) {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(lang) = env("MES_LANG").filter(|v| !v.is_empty()) {
            match lang.as_str() {
                "en" => self.lang = crate::present::i18n::Lang::En,
                "vi" => self.lang = crate::present::i18n::Lang::Vi,
                other => env_problem("MES_LANG", format!("{other:?} is not a language (en or vi)")),
            }
        }
        if let Some(listen) = env("MES_WEB_LISTEN").filter(|v| !v.is_empty()) {
            match listen.parse() {
                Ok(addr) => self.web_listen = addr,
                Err(_) => env_problem("MES_WEB_LISTEN", format!("{listen:?} is not an address")),
            }
        }
        if let Some(tz) = env("MES_TIME_ZONE").filter(|v| !v.is_empty()) {
            match tz.parse::<Tz>() {
                Ok(zone) => self.calendar.time_zone = zone,
                Err(_) => env_problem("MES_TIME_ZONE", format!("{tz:?} is not an IANA time zone")),
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid { problems }) }
    }

    /// The database URL in force: explicit, or the SQLite file under the data folder.
    pub fn effective_database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| crate::store::sqlite_url(&self.data_dir.join("mes.sqlite")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mes/mes.toml"), text)
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../mes.toml");
        let config = parse(text).unwrap();
        assert_eq!(config.calendar.time_zone, DEFAULT_TIME_ZONE);
        assert_eq!(config.calendar.shifts.len(), 3);
        assert_eq!(config.data_dir, PathBuf::from("/etc/mes/mes-data"));
        assert!(config.lines.iter().all(|l| l.profile.starts_with("/etc/mes/plc-profiles")));
    }

    #[test]
    fn an_empty_file_means_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.effective_database_url(), "sqlite:///etc/mes/mes-data/mes.sqlite?mode=rwc");
        assert_eq!(config.web_listen.port(), 8080);
        assert_eq!(config.audit, AuditConfig::default());
    }

    #[test]
    fn the_audit_section_is_read_and_checked() {
        let config = parse("[audit]\nauto_close = false\ngrace_minutes = 30\nperiod = \"day\"\n").unwrap();
        assert!(!config.audit.auto_close);
        assert_eq!(config.audit.grace, chrono::Duration::minutes(30));
        assert_eq!(config.audit.period, crate::domain::ledger::PeriodKind::Day);
        let ConfigError::Invalid { problems } = parse("[audit]\ngrace_minutes = -1\nperiod = \"week\"\n").unwrap_err()
        else {
            panic!("expected Invalid")
        };
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(rendered[0].contains(":2:") && rendered[0].contains("audit.grace_minutes"), "{rendered:?}");
        assert!(rendered[1].contains(":3:") && rendered[1].contains("audit.period"), "{rendered:?}");
    }

    #[test]
    fn every_bad_value_is_named_with_file_line_column_and_key() {
        let text = "database_url = \"mysql://x\"\n[plant]\ntime_zone = \"Mars/Olympus\"\n[[plant.shifts]]\nname = \"A\"\nstart = \"6am\"\nend = \"14:00\"\n[[lines]]\ncode = \"phone 1\"\nprofile = \"p.toml\"\n";
        let ConfigError::Invalid { problems } = parse(text).unwrap_err() else { panic!("expected Invalid") };
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(rendered.len(), 4, "{rendered:#?}");
        assert!(
            rendered[0].starts_with("/etc/mes/mes.toml:1:16: database_url: unsupported database URL"),
            "{}",
            rendered[0]
        );
        assert!(
            rendered[1].starts_with("/etc/mes/mes.toml:3:13: plant.time_zone: \"Mars/Olympus\""),
            "{}",
            rendered[1]
        );
        assert!(rendered[2].starts_with("/etc/mes/mes.toml:6:9: plant.shifts[0].start: \"6am\""), "{}", rendered[2]);
        assert!(
            rendered[3].starts_with("/etc/mes/mes.toml:9:8: lines[0].code: line \"phone 1\" may only"),
            "{}",
            rendered[3]
        );
    }

    #[test]
    fn planned_breaks_lie_inside_their_shift_even_across_midnight() {
        let text = "[[plant.shifts]]\nname = \"C\"\nstart = \"22:00\"\nend = \"06:00\"\nbreaks = [{ start = \"02:00\", end = \"02:30\" }, { start = \"07:00\", end = \"07:30\" }]\n";
        let ConfigError::Invalid { problems } = parse(text).unwrap_err() else { panic!("expected Invalid") };
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(rendered.len(), 1, "{rendered:#?}");
        assert!(
            rendered[0].contains("plant.shifts[0].breaks[1]: 07:00:00–07:30:00 does not lie inside the shift"),
            "{}",
            rendered[0]
        );
        let ok = parse(&text.replace("07:00", "05:00").replace("07:30", "05:30")).unwrap();
        assert_eq!(ok.calendar.shifts[0].breaks.len(), 2);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_position() {
        let err = parse("[web]\nlisten = \"127.0.0.1:1\"\nlissen = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/etc/mes/mes.toml") && text.contains("line 3") && text.contains("lissen"), "{text}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config = parse("database_url = \"sqlite://a.db\"\n").unwrap();
        let env = |k: &str| match k {
            "MES_DATABASE_URL" => Some("postgres://mes@db/mes".to_owned()),
            "MES_TIME_ZONE" => Some("Asia/Bangkok".to_owned()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.effective_database_url(), "postgres://mes@db/mes");
        assert_eq!(config.calendar.time_zone, chrono_tz::Asia::Bangkok);
        let err = config.apply_env(|k| (k == "MES_WEB_LISTEN").then(|| "nowhere".to_owned())).unwrap_err();
        assert!(err.to_string().contains("MES_WEB_LISTEN"), "{err}");
    }
}
