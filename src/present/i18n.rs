//! English and Vietnamese for the pages: every visible word from one table, and numbers and
//! times formatted for the chosen language (Vietnamese writes 93,5 % and 1.234). The choice is
//! a cookie (`mes_lang`), switched by `/lang/en` and `/lang/vi`.

use serde::Serialize;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// English.
    En,
    /// Tiếng Việt.
    Vi,
}

/// The language cookie's name.
pub const COOKIE: &str = "mes_lang";

impl Lang {
    /// From a cookie or path value; English for anything else.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("vi") => Lang::Vi,
            _ => Lang::En,
        }
    }

    /// BCP 47 tag (`lang` attribute, `Intl` formats).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Vi => "vi",
        }
    }

    /// A master-data name in this language: the Vietnamese name on Vietnamese pages when the
    /// profile gives one, the display name otherwise.
    pub fn name<'a>(self, name: &'a str, name_vi: Option<&'a str>) -> &'a str {
        match (self, name_vi) {
            (Lang::Vi, Some(vi)) if !vi.is_empty() => vi,
            _ => name,
        }
    }

    /// A lot's material in this language: "part · supplier", or words saying none is named.
    pub fn material(self, material: &crate::domain::Material) -> String {
        material.label(self.words().no_material)
    }

    /// A defect or repair action as a quality engineer reads it: "Missing component
    /// (MISSING_COMPONENT)", the catalogue's name in this language with the code; the code alone
    /// when the catalogue does not know it.
    pub fn coded(self, names: &crate::domain::plant::CodeNames, code: &str) -> String {
        match names.get(code) {
            Some(d) => format!("{} ({code})", self.name(&d.name, d.name_vi.as_deref())),
            None => code.to_owned(),
        }
    }

    /// A downtime reason in this language: the profiles' Vietnamese text on Vietnamese pages,
    /// "lỗi 103" for a fault code without a reason, the reason as recorded otherwise.
    pub fn reason(
        self,
        names: &crate::domain::plant::ReasonNames,
        reason: &crate::domain::state::DownReason,
    ) -> String {
        use crate::domain::state::DownReason as R;
        match (self, reason) {
            (Lang::Vi, R::Named(r)) => names.get(r).cloned().unwrap_or_else(|| r.clone()),
            (Lang::Vi, R::Code(c)) => format!("lỗi {c}"),
            (Lang::Vi, R::Unknown) => "lỗi".to_owned(),
            (Lang::En, r) => r.to_string(),
        }
    }

    /// A share as a percentage with one decimal ("93.5 %", "93,5 %"), or "—" for no data.
    pub fn percent(self, value: Option<f64>) -> String {
        match value {
            None => "—".to_owned(),
            Some(v) => self.decimal(v * 100.0, 1) + " %",
        }
    }

    /// A number with `digits` decimals in this language's notation.
    pub fn decimal(self, value: f64, digits: usize) -> String {
        let text = format!("{value:.digits$}");
        let (int, frac) = text.split_once('.').map_or((text.as_str(), ""), |(i, f)| (i, f));
        let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
        let (group, point) = match self {
            Lang::En => (',', '.'),
            Lang::Vi => ('.', ','),
        };
        let mut grouped = String::new();
        for (k, c) in int.chars().enumerate() {
            if k > 0 && (int.len() - k) % 3 == 0 {
                grouped.push(group);
            }
            grouped.push(c);
        }
        if frac.is_empty() { format!("{sign}{grouped}") } else { format!("{sign}{grouped}{point}{frac}") }
    }

    /// A count ("1,234", "1.234").
    pub fn count(self, value: u64) -> String {
        self.decimal(value as f64, 0)
    }

    /// A machine state in words.
    pub fn state(self, state: crate::domain::state::MachineState) -> &'static str {
        use crate::domain::state::MachineState as S;
        let w = self.words();
        match state {
            S::Running => w.state_running,
            S::Idle => w.state_idle,
            S::Blocked => w.state_blocked,
            S::Starved => w.state_starved,
            S::Fault => w.state_fault,
            S::Changeover => w.state_changeover,
            S::Maintenance => w.state_maintenance,
            S::Off => w.state_off,
        }
    }

    /// An instant as plant-local `HH:MM` (24-hour clock in both languages).
    pub fn time(self, at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
        at.with_timezone(&zone).format("%H:%M").to_string()
    }

    /// An instant in plant-local time: ISO `2026-12-01 14:05` in English, `01/12/2026 14:05`
    /// in Vietnamese (day first, as Vietnam writes dates).
    pub fn date_time(self, at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
        let format = match self {
            Lang::En => "%Y-%m-%d %H:%M",
            Lang::Vi => "%d/%m/%Y %H:%M",
        };
        at.with_timezone(&zone).format(format).to_string()
    }

    /// An event's instant in plant-local time, to the second (visits, holds, reads: events a
    /// minute apart must not look simultaneous): `2026-12-01 14:05:09` in English,
    /// `01/12/2026 14:05:09` in Vietnamese.
    pub fn moment(self, at: chrono::DateTime<chrono::Utc>, zone: chrono_tz::Tz) -> String {
        let format = match self {
            Lang::En => "%Y-%m-%d %H:%M:%S",
            Lang::Vi => "%d/%m/%Y %H:%M:%S",
        };
        at.with_timezone(&zone).format(format).to_string()
    }

    /// A problem with an OEE figure in words: in English as the CLI prints it, in Vietnamese
    /// with the same facts and the language's number format.
    pub fn oee_problem(self, problem: &crate::domain::oee::OeeProblem) -> String {
        use crate::domain::oee::OeeProblem as P;
        match self {
            Lang::En => problem.to_string(),
            Lang::Vi => match problem {
                P::NoIdealCycleTime { station } => format!(
                    "{station} chưa có thời gian chu kỳ lý tưởng (ideal_cycle_ms trong hồ sơ): không tính được hiệu suất và OEE"
                ),
                P::EffectivenessAbove100 { station, effectiveness } => format!(
                    "{} có hiệu suất {} %, vượt 100 %: thời gian chu kỳ lý tưởng quá ngắn",
                    station.as_ref().map_or("Dây chuyền", |s| s.as_str()),
                    self.decimal(effectiveness * 100.0, 1)
                ),
                P::ProductionWithoutRunningTime { station } => {
                    format!("{station} có sản phẩm nhưng không ghi nhận thời gian chạy")
                }
                P::UnrecordedTime { station, unrecorded_ms } => format!(
                    "{station}: {} phút thời gian kế hoạch không có trạng thái ghi nhận (không có bộ thu thập theo dõi)",
                    self.decimal(*unrecorded_ms as f64 / 60_000.0, 1)
                ),
            },
        }
    }

    /// A unit's life status in words.
    pub fn unit_status(self, status: crate::domain::unit::UnitStatus) -> &'static str {
        use crate::domain::unit::UnitStatus as U;
        let w = self.words();
        match status {
            U::InProcess => w.unit_in_process,
            U::Consumed => w.unit_consumed,
            U::Packed => w.unit_packed,
            U::Scrapped => w.unit_scrapped,
        }
    }

    /// What a trace item is ("unit", "pcba", "reel", "display_lot"…) in this language; a kind
    /// a profile made up and this table does not know is shown as it is.
    pub fn item_kind(self, kind: &str) -> &str {
        let vi = match kind {
            "unit" => "sản phẩm",
            "pcba" => "bo mạch PCBA",
            "reel" => "cuộn linh kiện",
            "display_lot" => "lô màn hình",
            "battery_lot" => "lô pin",
            "housing_lot" => "lô vỏ",
            "lot" => "lô",
            _ => return kind,
        };
        match self {
            Lang::En => kind,
            Lang::Vi => vi,
        }
    }

    /// A user role's name in this language.
    pub fn role(self, role: crate::domain::user::Role) -> &'static str {
        use crate::domain::user::Role;
        match (self, role) {
            (Lang::En, r) => r.as_str(),
            (Lang::Vi, Role::Supervisor) => "giám sát chuyền",
            (Lang::Vi, Role::Quality) => "chất lượng",
            (Lang::Vi, Role::Auditor) => "kiểm toán",
            (Lang::Vi, Role::Admin) => "quản trị",
        }
    }

    /// The page words.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Vi => &VI,
        }
    }
}

/// Every word the pages show (also handed to the page script as JSON).
#[derive(Debug, Serialize)]
pub struct Words {
    /// Page title.
    pub title: &'static str,
    /// Overview heading.
    pub overview: &'static str,
    /// Status words.
    pub running: &'static str,
    /// Down.
    pub down: &'static str,
    /// Idle.
    pub idle: &'static str,
    /// No data.
    pub no_data: &'static str,
    /// Output vs plan label.
    pub output: &'static str,
    /// Heading of a column of planned units.
    pub plan_heading: &'static str,
    /// Plan.
    pub plan: &'static str,
    /// After the tile's plan figure: what it counts (the plan up to now, not the shift's).
    pub plan_so_far: &'static str,
    /// The plan's label when the MES began watching after the shift's start (a time follows);
    /// the tile's OEE counts from then too (`figures::LineSummary::watched_from`).
    pub plan_from_watch: &'static str,
    /// First-pass yield.
    pub fpy: &'static str,
    /// OEE.
    pub oee: &'static str,
    /// Held units.
    pub held: &'static str,
    /// Downtime label.
    pub downtime: &'static str,
    /// Nothing down.
    pub none_down: &'static str,
    /// Shift.
    pub shift: &'static str,
    /// Off shift.
    pub off_shift: &'static str,
    /// Since.
    pub since: &'static str,
    /// Live connection lost.
    pub reconnecting: &'static str,
    /// Login.
    pub login: &'static str,
    /// User name.
    pub username: &'static str,
    /// Password.
    pub password: &'static str,
    /// Log out.
    pub logout: &'static str,
    /// Wrong login.
    pub wrong_login: &'static str,
    /// Too many attempts.
    pub too_many: &'static str,
    /// Other language's name.
    pub other_language: &'static str,
    /// Navigation: overview.
    pub nav_overview: &'static str,
    /// Navigation: trace search.
    pub nav_trace: &'static str,
    /// Navigation: holds.
    pub nav_holds: &'static str,
    /// Navigation: KPI.
    pub nav_kpi: &'static str,
    /// Navigation: printable reports.
    pub nav_reports: &'static str,
    /// Navigation and heading: the API reference page.
    pub api_doc: &'static str,
    /// The API reference's first words, before the JSON document's link.
    pub api_doc_intro: &'static str,
    /// "version", before the API's version.
    pub api_doc_version: &'static str,
    /// Heading of an operation's parameters.
    pub api_doc_parameters: &'static str,
    /// A required parameter.
    pub api_doc_required: &'static str,
    /// An operation's request body.
    pub api_doc_body: &'static str,
    /// Heading of an operation's answers.
    pub api_doc_answers: &'static str,
    /// On the login page: where the API and its reference are.
    pub login_api_hint: &'static str,
    /// Link from a unit to its certificate of conformance.
    pub certificate: &'static str,
    /// Route heading.
    pub route: &'static str,
    /// WIP before a station.
    pub wip: &'static str,
    /// Units at repair.
    pub at_repair: &'static str,
    /// Hourly output heading.
    pub hourly: &'static str,
    /// Top defects heading.
    pub top_defects: &'static str,
    /// Downtime timeline heading.
    pub timeline: &'static str,
    /// Collector health heading.
    pub collectors: &'static str,
    /// Collector connected.
    pub connected: &'static str,
    /// Collector not connected.
    pub not_connected: &'static str,
    /// No collector in this process.
    pub not_collected_here: &'static str,
    /// This process holds the line's lease (followed by its name).
    pub collected_by_this: &'static str,
    /// This process stands by for the line's holder (followed by its name).
    pub standby_for: &'static str,
    /// Last good read.
    pub last_read: &'static str,
    /// Errors.
    pub errors: &'static str,
    /// Records.
    pub records: &'static str,
    /// Records offered again by a PLC that were already stored (re-deliveries).
    pub offered_again: &'static str,
    /// The collector's commits fail.
    pub store_failing: &'static str,
    /// The line's lease could not be confirmed while the database is away.
    pub lease_unconfirmed: &'static str,
    /// The collector host's outbox is full: records are not acknowledged.
    pub outbox_full: &'static str,
    /// Outbox entries the central database refused, set aside (a count follows).
    pub outbox_quarantined: &'static str,
    /// Records of the line kept locally, waiting for the central database.
    pub outbox_waiting: &'static str,
    /// "oldest" (of the records waiting).
    pub oldest: &'static str,
    /// "forwarding" (records per second to the central database).
    pub forwarding: &'static str,
    /// Scan class column.
    pub scan_class: &'static str,
    /// Scan period column.
    pub scan_period: &'static str,
    /// Polls made column.
    pub scan_polls: &'static str,
    /// Polls longer than their period.
    pub scan_overruns: &'static str,
    /// Ticks that passed without a poll.
    pub scan_skipped: &'static str,
    /// Poll duration quantiles column, of the latest polls.
    pub scan_duration: &'static str,
    /// No defects.
    pub no_defects: &'static str,
    /// State word.
    pub state_running: &'static str,
    /// State word.
    pub state_idle: &'static str,
    /// State word.
    pub state_blocked: &'static str,
    /// State word.
    pub state_starved: &'static str,
    /// State word.
    pub state_fault: &'static str,
    /// State word.
    pub state_changeover: &'static str,
    /// State word.
    pub state_maintenance: &'static str,
    /// State word.
    pub state_off: &'static str,
    /// Search button.
    pub search: &'static str,
    /// Trace search label.
    pub trace_prompt: &'static str,
    /// Backward trace heading.
    pub backward: &'static str,
    /// Forward trace heading.
    pub forward: &'static str,
    /// Containment word.
    pub contains: &'static str,
    /// Containment word.
    pub possibly_contains: &'static str,
    /// Visits heading.
    pub visits: &'static str,
    /// On hold badge.
    pub on_hold: &'static str,
    /// Who is shown as signed in on a kiosk screen (no session).
    pub kiosk: &'static str,
    /// Nothing found.
    pub not_found: &'static str,
    /// Before the materials a lot code is a lot of: the engineer chooses one.
    pub lot_choose: &'static str,
    /// A lot's manufacturer part number.
    pub part_number: &'static str,
    /// A lot's supplier.
    pub supplier: &'static str,
    /// A lot whose profile names no material.
    pub no_material: &'static str,
    /// An address that is no page (the 404 page), before the address.
    pub no_page: &'static str,
    /// Status word.
    pub status: &'static str,
    /// Last seen.
    pub last_seen: &'static str,
    /// Place a hold.
    pub place_hold: &'static str,
    /// Release a hold.
    pub release: &'static str,
    /// Reason.
    pub reason: &'static str,
    /// Placed by.
    pub placed_by: &'static str,
    /// Released by.
    pub released_by: &'static str,
    /// Placeholder of the release's reason field.
    pub release_reason: &'static str,
    /// The place form's button: see what the hold would catch before placing it.
    pub hold_preview: &'static str,
    /// Before the count of units a hold would catch.
    pub hold_catches: &'static str,
    /// After that count.
    pub units_word: &'static str,
    /// A hold that catches no recorded unit yet.
    pub hold_catches_nothing: &'static str,
    /// The button that places the hold after its preview.
    pub confirm_hold: &'static str,
    /// Leaves the preview without placing.
    pub cancel: &'static str,
    /// Link to the previous page of a list.
    pub previous: &'static str,
    /// Link to the next page of a list.
    pub next: &'static str,
    /// Heading of a slice's time range (KPI by shift, day or hour).
    pub slice_time: &'static str,
    /// A slice still running: its figures cover part of it.
    pub running_partial: &'static str,
    /// How the line's OEE row is made, before the constraint's code.
    pub line_oee_rule: &'static str,
    /// Hold in force.
    pub active: &'static str,
    /// Role may not change holds.
    pub read_only: &'static str,
    /// Period picker.
    pub period: &'static str,
    /// From.
    pub from: &'static str,
    /// How a time is typed into a period field, in this language's date order.
    pub date_hint: &'static str,
    /// To.
    pub to: &'static str,
    /// Show button.
    pub show: &'static str,
    /// Station.
    pub station: &'static str,
    /// Final yield.
    pub final_yield: &'static str,
    /// Units.
    pub units: &'static str,
    /// Availability.
    pub availability: &'static str,
    /// Performance.
    pub performance: &'static str,
    /// Quality.
    pub quality: &'static str,
    /// Scrap rate.
    pub scrap_rate: &'static str,
    /// Rolled throughput yield.
    pub rty: &'static str,
    /// Line.
    pub line: &'static str,
    /// Downtime by reason heading.
    pub downtime_by_reason: &'static str,
    /// Minutes unit.
    pub minutes: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Verdict.
    pub pass: &'static str,
    /// Verdict.
    pub fail: &'static str,
    /// Unit status.
    pub unit_in_process: &'static str,
    /// Unit status.
    pub unit_consumed: &'static str,
    /// Unit status.
    pub unit_packed: &'static str,
    /// Unit status.
    pub unit_scrapped: &'static str,
    /// Time column.
    pub time: &'static str,
    /// Result column.
    pub result: &'static str,
    /// Defects column.
    pub defects: &'static str,
    /// Repair action column: what a repair bench did.
    pub repair_action: &'static str,
    /// Depth column.
    pub depth: &'static str,
    /// Product.
    pub product: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Lot.
    pub lot: &'static str,
    /// Held units already packed.
    pub held_at_pack: &'static str,
    /// Yield section.
    pub yield_heading: &'static str,
    /// OEE section.
    pub oee_heading: &'static str,
    /// Slicing.
    pub by: &'static str,
    /// No slicing.
    pub whole_period: &'static str,
    /// Hold placed.
    pub placed: &'static str,
    /// Hold existed.
    pub already_held: &'static str,
    /// Beside "hold placed" when the lot was never recorded by any line (a typo?).
    pub unseen_lot: &'static str,
    /// Holds released.
    pub released_n: &'static str,
    /// Unrecorded share of the shift.
    pub unrecorded: &'static str,
    /// Period preset: today.
    pub today: &'static str,
    /// Period preset: the last 7 days.
    pub last_7_days: &'static str,
    /// Slicing: per day.
    pub per_day: &'static str,
    /// Slicing: per hour.
    pub per_hour: &'static str,
    /// The audit page's words.
    pub audit: AuditWords,
}

/// The audit ledger page's words.
#[derive(Debug, Serialize)]
pub struct AuditWords {
    /// Navigation and heading.
    pub heading: &'static str,
    /// Verification section heading.
    pub verification: &'static str,
    /// Clean verdict.
    pub verified: &'static str,
    /// Failed verdict.
    pub not_verified: &'static str,
    /// "entries".
    pub entries: &'static str,
    /// "station results recomputed".
    pub records_recomputed: &'static str,
    /// "checkpoints checked".
    pub checkpoints_checked: &'static str,
    /// No key on this host.
    pub no_key: &'static str,
    /// Where a discrepancy is.
    pub where_: &'static str,
    /// What is wrong.
    pub what: &'static str,
    /// Checkpoint heading.
    pub checkpoint: &'static str,
    /// Nothing closed yet.
    pub nothing_closed: &'static str,
    /// Tree size.
    pub tree_size: &'static str,
    /// Root hash.
    pub root: &'static str,
    /// Public key.
    pub key: &'static str,
    /// Key fingerprint.
    pub fingerprint: &'static str,
    /// Closed periods heading.
    pub periods: &'static str,
    /// Entry number.
    pub entry: &'static str,
    /// Entry kind: a closed period.
    pub kind_period: &'static str,
    /// Entry kind: a supplement for late records.
    pub kind_supplement: &'static str,
    /// Entry kind: a correction.
    pub kind_correction: &'static str,
    /// Station results counted.
    pub results: &'static str,
    /// Units started.
    pub started: &'static str,
    /// Units out.
    pub out: &'static str,
    /// Scrapped.
    pub scrapped: &'static str,
    /// Reworked.
    pub reworked: &'static str,
    /// Row label: as recorded.
    pub raw: &'static str,
    /// Row label: as corrected.
    pub corrected: &'static str,
    /// Row label: the difference.
    pub difference: &'static str,
    /// Closed by / at.
    pub closed: &'static str,
    /// Corrections heading.
    pub corrections: &'static str,
    /// Which entry a correction amends.
    pub amends: &'static str,
    /// A correction's changes.
    pub changes: &'static str,
    /// Late arrivals heading.
    pub late: &'static str,
    /// Heading of entries sealed under earlier figure rules.
    pub rule_changes: &'static str,
    /// "sealed under figure rules" (a number follows).
    pub sealed_under: &'static str,
    /// "changed by rules" (a number follows).
    pub changed_by: &'static str,
    /// "figures differ" (after a count).
    pub figures_differ: &'static str,
    /// A late record covered by a supplement.
    pub supplemented: &'static str,
    /// A late record waiting for the next close.
    pub to_supplement: &'static str,
    /// Bundle download.
    pub download: &'static str,
    /// How to verify a bundle offline.
    pub verify_offline: &'static str,
    /// Filter: every line.
    pub all_lines: &'static str,
}

static EN: Words = Words {
    title: "MES — line overview",
    overview: "Lines",
    running: "RUNNING",
    down: "DOWN",
    idle: "IDLE",
    no_data: "NO DATA",
    output: "Output",
    plan: "plan",
    plan_heading: "Plan",
    plan_so_far: "planned so far this shift",
    plan_from_watch: "planned since first watched at",
    fpy: "First-pass yield",
    oee: "OEE",
    held: "On hold",
    downtime: "Down now",
    none_down: "nothing down",
    shift: "Shift",
    off_shift: "off shift",
    since: "since",
    reconnecting: "live updates lost — reconnecting…",
    login: "Log in",
    username: "User name",
    password: "Password",
    logout: "Log out",
    wrong_login: "Wrong user name or password.",
    too_many: "Too many attempts; wait a minute.",
    other_language: "Tiếng Việt",
    nav_overview: "Overview",
    nav_trace: "Trace",
    nav_holds: "Holds",
    nav_kpi: "KPI",
    nav_reports: "Reports",
    api_doc: "API reference",
    api_doc_intro: "Every operation of the JSON API under /api/v1, as the machine-readable document says it:",
    api_doc_version: "version",
    api_doc_parameters: "Parameters",
    api_doc_required: "required",
    api_doc_body: "Request body",
    api_doc_answers: "Answers",
    login_api_hint: "The JSON API is under /api/v1; its reference is at /api once you are logged in.",
    certificate: "Certificate of conformance",
    route: "Route",
    wip: "waiting",
    at_repair: "At repair",
    hourly: "Output per hour against plan",
    top_defects: "Top defects this shift",
    timeline: "Machine states",
    collectors: "Collector",
    connected: "connected",
    not_connected: "NOT CONNECTED",
    not_collected_here: "collected by another process",
    collected_by_this: "collected by this process:",
    standby_for: "standby, collected by",
    last_read: "last read",
    errors: "errors",
    records: "records",
    offered_again: "offered again (already stored)",
    store_failing: "STORE FAILING",
    lease_unconfirmed: "DATABASE AWAY: collecting on, lease not confirmed",
    outbox_full: "OUTBOX FULL: records stay in the PLCs",
    outbox_quarantined: "REFUSED BY THE CENTRAL DATABASE, set aside (see mes outbox): unit records",
    outbox_waiting: "records kept locally for the database",
    oldest: "oldest",
    forwarding: "forwarding",
    scan_class: "scan class",
    scan_period: "period",
    scan_polls: "polls",
    scan_overruns: "overruns (poll longer than its period)",
    scan_skipped: "ticks skipped",
    scan_duration: "poll time p50 / p99 (latest 1,000)",
    no_defects: "no defects",
    state_running: "running",
    state_idle: "idle",
    state_blocked: "blocked",
    state_starved: "starved",
    state_fault: "fault",
    state_changeover: "changeover",
    state_maintenance: "maintenance",
    state_off: "off",
    search: "Search",
    trace_prompt: "Serial or lot / reel",
    backward: "What it contains",
    forward: "Units containing it",
    contains: "contains",
    possibly_contains: "possibly contains",
    visits: "Station visits",
    on_hold: "ON HOLD",
    kiosk: "kiosk",
    not_found: "nothing recorded under",
    lot_choose: "is the code of lots of several materials (each supplier prints its own codes). Choose one:",
    part_number: "Part number",
    supplier: "Supplier",
    no_material: "no material named",
    no_page: "There is no page at",
    status: "status",
    last_seen: "last seen",
    place_hold: "Place hold",
    release: "Release",
    reason: "Reason",
    placed_by: "placed by",
    released_by: "released by",
    release_reason: "why release?",
    hold_preview: "Check what it holds…",
    hold_catches: "This hold will catch",
    units_word: "units",
    hold_catches_nothing: "No recorded unit contains it yet: the hold applies to units that use it later.",
    confirm_hold: "Place the hold",
    cancel: "Cancel",
    slice_time: "Time (plant)",
    previous: "previous",
    next: "next",
    running_partial: "running, partial",
    line_oee_rule: "The line row is the line as one work unit (ISO 22400-2): the time of its constraint, the step with the longest ideal cycle; its quantities are units out of the last step and units scrapped. Constraint:",
    active: "in force",
    read_only: "Your role can view holds but not place or release them.",
    period: "Period",
    from: "From",
    date_hint: "YYYY-MM-DD HH:MM",
    to: "To",
    show: "Show",
    station: "Station",
    final_yield: "Final yield",
    units: "Units",
    availability: "Availability",
    performance: "Performance",
    quality: "Quality",
    scrap_rate: "Scrap rate",
    rty: "Rolled throughput yield",
    line: "Line",
    downtime_by_reason: "Downtime by reason",
    minutes: "min",
    kind: "kind",
    pass: "pass",
    fail: "FAIL",
    unit_in_process: "in process",
    unit_consumed: "built in",
    unit_packed: "packed",
    unit_scrapped: "scrapped",
    time: "Time",
    result: "Result",
    defects: "Defects",
    repair_action: "Repair action",
    depth: "levels",
    product: "Product",
    unit: "Unit",
    lot: "Lot / reel",
    held_at_pack: "Held units already packed — recall before shipping",
    yield_heading: "Yield per station",
    oee_heading: "OEE per station",
    by: "by",
    whole_period: "whole period",
    placed: "Hold placed.",
    already_held: "Already on hold.",
    unseen_lot: "⚠ No line has ever recorded this lot: it is held for units that consume it later. Check the id if you meant a lot already in use.",
    released_n: "Holds released:",
    unrecorded: "of the shift not recorded (counted as lost in OEE)",
    today: "today",
    last_7_days: "7 days",
    per_day: "day",
    per_hour: "hour",
    audit: AuditWords {
        heading: "Audit ledger",
        verification: "Verification",
        verified: "✔ VERIFIED",
        not_verified: "✖ NOT VERIFIED",
        entries: "entries",
        records_recomputed: "station results recomputed from the raw records",
        checkpoints_checked: "checkpoints checked",
        no_key: "This web host does not hold the plant's ledger key: verify with mes audit verify on the closing host.",
        where_: "Where",
        what: "What is wrong",
        checkpoint: "Latest signed checkpoint",
        nothing_closed: "No period has been closed yet.",
        tree_size: "Entries in the log",
        root: "Root hash",
        key: "Public key",
        fingerprint: "Key fingerprint (SHA-256)",
        periods: "Closed periods",
        entry: "Entry",
        kind_period: "period",
        kind_supplement: "supplement",
        kind_correction: "correction",
        results: "Records",
        started: "Started",
        out: "Out",
        scrapped: "Scrapped",
        reworked: "Reworked",
        raw: "as recorded",
        corrected: "as corrected",
        difference: "difference",
        closed: "Closed by",
        corrections: "Corrections",
        amends: "Amends entry",
        changes: "Changes",
        late: "Records that arrived after their period closed",
        rule_changes: "Figures sealed under earlier rules (the records verify; today's rules compute these differently)",
        sealed_under: "sealed under figure rules",
        changed_by: "changed by rules",
        figures_differ: "figures differ",
        supplemented: "covered by a supplement",
        to_supplement: "to be supplemented at the next close",
        download: "Download the signed bundle of these periods",
        verify_offline: "Verify it anywhere, with no database:",
        all_lines: "every line",
    },
};

static VI: Words = Words {
    title: "MES — tổng quan dây chuyền",
    overview: "Dây chuyền",
    running: "ĐANG CHẠY",
    down: "DỪNG MÁY",
    idle: "CHỜ",
    no_data: "KHÔNG CÓ DỮ LIỆU",
    output: "Sản lượng",
    plan: "kế hoạch",
    plan_heading: "Kế hoạch",
    plan_so_far: "kế hoạch đến giờ trong ca",
    plan_from_watch: "kế hoạch từ lúc bắt đầu theo dõi",
    fpy: "Tỷ lệ đạt lần đầu",
    oee: "OEE",
    held: "Đang giữ",
    downtime: "Đang dừng",
    none_down: "không có máy dừng",
    shift: "Ca",
    off_shift: "ngoài ca",
    since: "từ",
    reconnecting: "mất cập nhật trực tiếp — đang kết nối lại…",
    login: "Đăng nhập",
    username: "Tên đăng nhập",
    password: "Mật khẩu",
    logout: "Đăng xuất",
    wrong_login: "Sai tên đăng nhập hoặc mật khẩu.",
    too_many: "Quá nhiều lần thử; hãy đợi một phút.",
    other_language: "English",
    nav_overview: "Tổng quan",
    nav_trace: "Truy xuất",
    nav_holds: "Giữ hàng",
    nav_kpi: "Chỉ số KPI",
    nav_reports: "Báo cáo",
    api_doc: "Tài liệu API",
    api_doc_intro: "Mọi thao tác của API JSON dưới /api/v1, theo tài liệu máy đọc được:",
    api_doc_version: "phiên bản",
    api_doc_parameters: "Tham số",
    api_doc_required: "bắt buộc",
    api_doc_body: "Nội dung yêu cầu",
    api_doc_answers: "Phản hồi",
    login_api_hint: "API JSON nằm dưới /api/v1; tài liệu của nó ở /api sau khi đăng nhập.",
    certificate: "Giấy chứng nhận hợp chuẩn",
    route: "Quy trình",
    wip: "đang chờ",
    at_repair: "Đang sửa chữa",
    hourly: "Sản lượng theo giờ so với kế hoạch",
    top_defects: "Lỗi nhiều nhất trong ca",
    timeline: "Trạng thái máy",
    collectors: "Thu thập dữ liệu",
    connected: "đã kết nối",
    not_connected: "MẤT KẾT NỐI",
    not_collected_here: "được thu thập bởi tiến trình khác",
    collected_by_this: "do tiến trình này thu thập:",
    standby_for: "dự phòng, đang do tiến trình sau thu thập:",
    last_read: "lần đọc cuối",
    errors: "lỗi",
    records: "bản ghi",
    offered_again: "gửi lại (đã lưu)",
    store_failing: "LỖI LƯU TRỮ",
    lease_unconfirmed: "MẤT KẾT NỐI CSDL: vẫn thu thập, chưa xác nhận quyền",
    outbox_full: "HÀNG ĐỢI CỤC BỘ ĐẦY: bản ghi còn giữ trong PLC",
    outbox_quarantined: "CƠ SỞ DỮ LIỆU TRUNG TÂM TỪ CHỐI, đã để riêng (xem mes outbox): số bản ghi",
    outbox_waiting: "bản ghi lưu cục bộ chờ gửi về CSDL",
    oldest: "cũ nhất",
    forwarding: "đang gửi",
    scan_class: "lớp quét",
    scan_period: "chu kỳ",
    scan_polls: "lần quét",
    scan_overruns: "quá hạn (lần quét dài hơn chu kỳ)",
    scan_skipped: "nhịp bị bỏ qua",
    scan_duration: "thời gian quét p50 / p99 (1.000 lần gần nhất)",
    no_defects: "không có lỗi",
    state_running: "đang chạy",
    state_idle: "chờ",
    state_blocked: "bị chặn",
    state_starved: "thiếu hàng",
    state_fault: "sự cố",
    state_changeover: "chuyển đổi",
    state_maintenance: "bảo trì",
    state_off: "tắt",
    search: "Tìm",
    trace_prompt: "Số sê-ri hoặc lô / cuộn",
    backward: "Thành phần bên trong",
    forward: "Sản phẩm chứa nó",
    contains: "chứa",
    possibly_contains: "có thể chứa",
    visits: "Lượt qua trạm",
    on_hold: "ĐANG GIỮ",
    kiosk: "màn hình chuyền",
    not_found: "không có dữ liệu cho",
    lot_choose: "là mã của các lô thuộc nhiều vật tư (mỗi nhà cung cấp tự in mã lô). Chọn một:",
    part_number: "Mã linh kiện",
    supplier: "Nhà cung cấp",
    no_material: "chưa ghi vật tư",
    no_page: "Không có trang nào tại địa chỉ",
    status: "trạng thái",
    last_seen: "thấy lần cuối",
    place_hold: "Đặt giữ",
    release: "Giải phóng",
    reason: "Lý do",
    placed_by: "đặt bởi",
    released_by: "giải phóng bởi",
    release_reason: "lý do giải phóng?",
    hold_preview: "Xem phạm vi giữ…",
    hold_catches: "Lệnh giữ này sẽ giữ",
    units_word: "sản phẩm",
    hold_catches_nothing: "Chưa có sản phẩm nào được ghi nhận chứa nó: lệnh giữ áp dụng cho các sản phẩm dùng nó sau này.",
    confirm_hold: "Đặt giữ",
    cancel: "Huỷ",
    slice_time: "Thời gian (nhà máy)",
    previous: "trước",
    next: "sau",
    running_partial: "đang chạy, chưa trọn",
    line_oee_rule: "Hàng dây chuyền tính cả dây chuyền như một đơn vị sản xuất (ISO 22400-2): thời gian của công đoạn giới hạn, công đoạn có chu kỳ lý tưởng dài nhất; số lượng là sản phẩm ra khỏi công đoạn cuối và sản phẩm hủy. Công đoạn giới hạn:",
    active: "đang hiệu lực",
    read_only: "Vai trò của bạn chỉ được xem, không được đặt hay giải phóng.",
    period: "Khoảng thời gian",
    from: "Từ",
    date_hint: "DD/MM/YYYY HH:MM",
    to: "Đến",
    show: "Xem",
    station: "Trạm",
    final_yield: "Tỷ lệ đạt cuối",
    units: "Sản phẩm",
    availability: "Khả dụng",
    performance: "Hiệu suất",
    quality: "Chất lượng",
    scrap_rate: "Tỷ lệ phế phẩm",
    rty: "Tỷ lệ đạt tích lũy",
    line: "Dây chuyền",
    downtime_by_reason: "Thời gian dừng theo lý do",
    minutes: "phút",
    kind: "loại",
    pass: "đạt",
    fail: "KHÔNG ĐẠT",
    unit_in_process: "đang sản xuất",
    unit_consumed: "đã lắp vào",
    unit_packed: "đã đóng gói",
    unit_scrapped: "phế phẩm",
    time: "Thời gian",
    result: "Kết quả",
    defects: "Lỗi",
    repair_action: "Thao tác sửa chữa",
    depth: "cấp",
    product: "Sản phẩm",
    unit: "Sản phẩm",
    lot: "Lô / cuộn",
    held_at_pack: "Sản phẩm bị giữ đã đóng gói — thu hồi trước khi xuất",
    yield_heading: "Tỷ lệ đạt theo trạm",
    oee_heading: "OEE theo trạm",
    by: "theo",
    whole_period: "cả khoảng",
    placed: "Đã đặt giữ.",
    already_held: "Đã bị giữ từ trước.",
    unseen_lot: "⚠ Chưa dây chuyền nào ghi nhận lô này: lô được giữ cho các sản phẩm dùng nó sau này. Hãy kiểm tra lại mã nếu bạn định giữ một lô đang dùng.",
    released_n: "Số lệnh giữ đã giải phóng:",
    unrecorded: "thời gian ca không được ghi nhận (tính là tổn thất trong OEE)",
    today: "hôm nay",
    last_7_days: "7 ngày",
    per_day: "ngày",
    per_hour: "giờ",
    audit: AuditWords {
        heading: "Sổ kiểm toán",
        verification: "Kiểm chứng",
        verified: "✔ ĐÃ KIỂM CHỨNG",
        not_verified: "✖ KHÔNG KHỚP",
        entries: "mục",
        records_recomputed: "kết quả trạm được tính lại từ dữ liệu gốc",
        checkpoints_checked: "điểm kiểm tra đã đối chiếu",
        no_key: "Máy chủ web này không giữ khóa sổ của nhà máy: hãy kiểm chứng bằng mes audit verify trên máy chốt sổ.",
        where_: "Vị trí",
        what: "Sai lệch",
        checkpoint: "Điểm kiểm tra đã ký mới nhất",
        nothing_closed: "Chưa chốt kỳ nào.",
        tree_size: "Số mục trong sổ",
        root: "Mã băm gốc",
        key: "Khóa công khai",
        fingerprint: "Dấu vân tay khóa (SHA-256)",
        periods: "Các kỳ đã chốt",
        entry: "Mục",
        kind_period: "kỳ",
        kind_supplement: "bổ sung",
        kind_correction: "hiệu chỉnh",
        results: "Bản ghi",
        started: "Vào",
        out: "Ra",
        scrapped: "Phế phẩm",
        reworked: "Sửa lại",
        raw: "như đã ghi",
        corrected: "sau hiệu chỉnh",
        difference: "chênh lệch",
        closed: "Chốt bởi",
        corrections: "Hiệu chỉnh",
        amends: "Sửa mục",
        changes: "Thay đổi",
        late: "Bản ghi đến sau khi kỳ đã chốt",
        rule_changes: "Số liệu chốt theo quy tắc cũ (bản ghi khớp; quy tắc hiện nay tính các số này khác đi)",
        sealed_under: "chốt theo quy tắc số liệu",
        changed_by: "thay đổi bởi quy tắc",
        figures_differ: "số liệu khác",
        supplemented: "đã có mục bổ sung",
        to_supplement: "sẽ bổ sung ở lần chốt tới",
        download: "Tải gói đã ký của các kỳ này",
        verify_offline: "Kiểm chứng ở bất cứ đâu, không cần cơ sở dữ liệu:",
        all_lines: "mọi dây chuyền",
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(Lang::En.percent(Some(0.93456)), "93.5 %");
        assert_eq!(Lang::Vi.percent(Some(0.93456)), "93,5 %");
        assert_eq!(Lang::En.count(1_234_567), "1,234,567");
        assert_eq!(Lang::Vi.count(1_234_567), "1.234.567");
        assert_eq!(Lang::Vi.decimal(-1234.5, 1), "-1.234,5");
        assert_eq!(Lang::En.percent(None), "—");
        assert_eq!(Lang::parse(Some("vi")), Lang::Vi);
        assert_eq!(Lang::parse(Some("fr")), Lang::En);
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T07:05:00Z").unwrap().to_utc();
        let zone = chrono_tz::Asia::Ho_Chi_Minh;
        assert_eq!(Lang::En.date_time(at, zone), "2026-12-01 14:05");
        assert_eq!(Lang::Vi.date_time(at, zone), "01/12/2026 14:05");
        assert_eq!(Lang::En.moment(at + chrono::Duration::seconds(9), zone), "2026-12-01 14:05:09");
        assert_eq!(Lang::Vi.moment(at + chrono::Duration::seconds(9), zone), "01/12/2026 14:05:09");
    }

    #[test]
    fn oee_problems_are_words_in_the_language() {
        use crate::domain::oee::OeeProblem;
        let station = crate::domain::StationId::parse("FT".to_owned()).unwrap();
        let unrecorded = OeeProblem::UnrecordedTime { station: station.clone(), unrecorded_ms: 90_000 };
        assert_eq!(Lang::En.oee_problem(&unrecorded), unrecorded.to_string(), "English is the CLI's text");
        assert!(Lang::Vi.oee_problem(&unrecorded).starts_with("FT: 1,5 phút"), "{}", Lang::Vi.oee_problem(&unrecorded));
        let above = OeeProblem::EffectivenessAbove100 { station: None, effectiveness: 1.25 };
        assert!(Lang::Vi.oee_problem(&above).contains("125,0 %"));
        assert!(!Lang::Vi.oee_problem(&OeeProblem::NoIdealCycleTime { station }).contains("ideal cycle"));
    }
}
