//! English and Vietnamese for the pages: every visible word from one table, and numbers and
//! times formatted for the chosen language (Vietnamese writes 93,5 % and 1.234). The choice is
//! a cookie (`mes_lang`), switched by `/lang/en` and `/lang/vi`.

use serde::Serialize;

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Plan.
    pub plan: &'static str,
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
    }
}
