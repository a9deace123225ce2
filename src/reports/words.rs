//! The words of the printed reports in English and Vietnamese: titles, headings, column names.
//! Templates read them as `w.KEY`; table headings are the column keys looked up here.

use std::collections::BTreeMap;

use crate::present::i18n::Lang;

/// Key, English, Vietnamese.
const WORDS: &[(&str, &str, &str)] = &[
    ("shift", "Shift report", "Báo cáo ca"),
    ("yield", "Yield report", "Báo cáo hiệu suất chất lượng"),
    ("trace", "Certificate of conformance", "Giấy chứng nhận hợp chuẩn"),
    ("audit", "Output audit report", "Báo cáo kiểm toán sản lượng"),
    ("line", "Line", "Dây chuyền"),
    ("period", "Period", "Kỳ"),
    ("shift_name", "Shift", "Ca"),
    ("plant_time", "Plant time", "Giờ nhà máy"),
    ("utc", "UTC", "UTC"),
    ("generated_at", "Generated", "Lập lúc"),
    ("generated_by", "by", "bởi"),
    ("page", "Page", "Trang"),
    ("summary", "Summary", "Tóm tắt"),
    ("hour", "Hour", "Giờ"),
    ("from", "From", "Từ"),
    ("to", "To", "Đến"),
    ("output", "Output", "Sản lượng"),
    ("plan", "Plan", "Kế hoạch"),
    ("difference", "Difference", "Chênh lệch"),
    ("output_vs_plan", "Output per hour against plan", "Sản lượng theo giờ so với kế hoạch"),
    ("station", "Station", "Trạm"),
    ("first_visits", "First visits", "Lượt vào đầu"),
    ("first_pass", "First pass", "Đạt lần đầu"),
    ("fpy", "First-pass yield", "Tỷ lệ đạt lần đầu"),
    ("first_fail", "Failed first", "Lỗi lần đầu"),
    ("retest_pass", "Passed retest", "Đạt khi thử lại"),
    ("retest_yield", "Retest yield", "Tỷ lệ đạt thử lại"),
    ("units", "Units", "Sản phẩm"),
    ("final_pass", "Final pass", "Đạt cuối"),
    ("final_yield", "Final yield", "Tỷ lệ đạt cuối"),
    ("visits", "Visits", "Lượt"),
    ("defects", "Defects", "Lỗi"),
    ("repair_action", "Repair action", "Thao tác sửa chữa"),
    ("rty", "Rolled throughput yield", "Hiệu suất thông qua tích lũy"),
    ("yield_per_station", "Yield per station", "Hiệu suất theo trạm"),
    ("scrapped", "Scrapped", "Phế phẩm"),
    ("scrap_rate", "Scrap rate", "Tỷ lệ phế phẩm"),
    ("opportunities", "Defect opportunities", "Cơ hội lỗi"),
    ("dpmo", "DPMO", "DPMO"),
    ("oee", "OEE", "OEE"),
    ("oee_iso", "OEE per ISO 22400-2", "OEE theo ISO 22400-2"),
    ("availability", "Availability", "Khả dụng"),
    ("effectiveness", "Effectiveness", "Hiệu quả"),
    ("quality", "Quality", "Chất lượng"),
    ("pbt_ms", "Planned busy time (h)", "Thời gian bận kế hoạch (giờ)"),
    ("apt_ms", "Actual production time (h)", "Thời gian sản xuất thực (giờ)"),
    ("adot_ms", "Down time (h)", "Thời gian dừng máy (giờ)"),
    ("adet_ms", "Delay time (h)", "Thời gian trễ (giờ)"),
    ("unrecorded_ms", "Not recorded (h)", "Không ghi nhận (giờ)"),
    ("pq", "Produced", "Đã sản xuất"),
    ("gq", "Good", "Đạt"),
    ("rq", "Rework", "Làm lại"),
    ("sq", "Scrap", "Phế phẩm"),
    ("downtime_by_reason", "Downtime by reason", "Thời gian dừng theo nguyên nhân"),
    ("reason", "Reason", "Nguyên nhân"),
    ("stops", "Stops", "Lần dừng"),
    ("seconds", "Minutes", "Phút"),
    ("timeline", "Machine states", "Trạng thái máy"),
    ("top_defects", "Top defects", "Lỗi thường gặp"),
    ("defect_pareto", "Defect Pareto", "Biểu đồ Pareto lỗi"),
    ("code", "Defect", "Mã lỗi"),
    ("defect_name", "Name", "Tên lỗi"),
    ("count", "Count", "Số lần"),
    ("share", "Share", "Tỷ trọng"),
    ("cumulative", "Cumulative", "Lũy kế"),
    ("holds", "Quality holds placed or released", "Phong tỏa chất lượng đặt hoặc gỡ"),
    ("target", "Held", "Đối tượng"),
    ("placed_by", "Placed by", "Người đặt"),
    ("placed_at", "Placed", "Lúc đặt"),
    ("released_by", "Released by", "Người gỡ"),
    ("released_at", "Released", "Lúc gỡ"),
    ("release_reason", "Why released", "Lý do gỡ"),
    ("counters", "PLC counters beside records", "Bộ đếm PLC so với bản ghi"),
    ("records", "Records", "Bản ghi"),
    ("counted_in", "Counted in", "Bộ đếm vào"),
    ("counter_events", "Counter data-quality events", "Sự kiện chất lượng dữ liệu bộ đếm"),
    ("event", "Event", "Sự kiện"),
    ("ledger", "Audit ledger", "Sổ cái kiểm toán"),
    ("ledger_open", "Not closed into the audit ledger yet.", "Chưa chốt vào sổ cái kiểm toán."),
    ("entry", "Entry", "Mục"),
    ("leaf_hash", "Leaf hash", "Băm lá"),
    ("checkpoint", "Checkpoint", "Điểm kiểm"),
    ("none", "None", "Không có"),
    ("trend", "Trend", "Xu hướng"),
    ("label", "Period", "Kỳ"),
    ("no_data", "No data", "Không có dữ liệu"),
    ("product", "Product", "Sản phẩm"),
    ("serial", "Serial", "Số sê-ri"),
    ("imei", "IMEI", "IMEI"),
    ("manufactured", "Date of manufacture", "Ngày sản xuất"),
    ("status", "Status", "Trạng thái"),
    ("result", "Result", "Kết quả"),
    ("measurements", "Measurements", "Phép đo"),
    ("ended_at", "At", "Lúc"),
    ("seq", "Seq", "STT"),
    ("station_visits", "Station visits", "Lượt qua trạm"),
    ("components", "Components", "Linh kiện"),
    ("kind_word", "Kind", "Loại"),
    ("item", "Serial, lot or reel", "Sê-ri, lô hoặc cuộn"),
    ("certain", "certain", "chắc chắn"),
    ("certainty", "Link", "Liên kết"),
    ("possible", "possible", "có thể"),
    ("via", "Via", "Qua"),
    ("hold_history", "Hold history", "Lịch sử phong tỏa"),
    ("conformance", "Conformance", "Hợp chuẩn"),
    (
        "conforms",
        "This unit passed every step of its route and is not on hold: it conforms.",
        "Sản phẩm này đạt mọi bước trong quy trình và không bị phong tỏa: hợp chuẩn.",
    ),
    ("does_not_conform", "This unit does not conform:", "Sản phẩm này không hợp chuẩn:"),
    ("inclusion_proof", "Inclusion proof", "Chứng minh bao hàm"),
    ("tree_size", "Log size", "Kích thước nhật ký"),
    ("root", "Root", "Gốc"),
    ("raw", "Raw", "Gốc"),
    ("corrected", "Corrected", "Đã hiệu chỉnh"),
    ("units_started", "Units started", "Sản phẩm bắt đầu"),
    ("units_out", "Units out", "Sản phẩm ra"),
    ("reworked", "Reworked", "Làm lại"),
    ("first_pass_yield", "First-pass yield", "Tỷ lệ đạt lần đầu"),
    ("results", "Results", "Kết quả ghi"),
    ("corrections", "Corrections", "Hiệu chỉnh"),
    ("key", "Plant key", "Khóa nhà máy"),
    ("fingerprint", "Key fingerprint", "Dấu vân tay khóa"),
    ("verify_offline", "Verify it offline", "Kiểm tra ngoại tuyến"),
    ("closed_at", "Closed", "Chốt lúc"),
    ("closed_by", "Closed by", "Người chốt"),
    ("figure", "Figure", "Chỉ số"),
    ("signed", "Signed", "Đã ký"),
    ("day", "Day", "Ngày"),
    ("language", "Language", "Ngôn ngữ"),
    ("making", "Making the report…", "Đang lập báo cáo…"),
    ("make", "Make the report", "Lập báo cáo"),
    ("open", "Open, print or save as PDF", "Mở, in hoặc lưu PDF"),
    ("written_reports", "Reports written by the server", "Báo cáo do máy chủ lập"),
    (
        "reports_hint",
        "Shift report: a line and a shift (or from/to, at most 31 days; default the last ended shift). Yield report: a line and from/to (default the last 7 days). Certificate: a serial. Audit report: closed periods, optionally of one line.",
        "Báo cáo ca: dây chuyền và ca (hoặc từ/đến, tối đa 31 ngày; mặc định ca vừa kết thúc). Báo cáo hiệu suất: dây chuyền và từ/đến (mặc định 7 ngày gần nhất). Giấy chứng nhận: số sê-ri. Báo cáo kiểm toán: các kỳ đã chốt, có thể chọn một dây chuyền.",
    ),
    ("hourly", "Output per hour", "Sản lượng theo giờ"),
    ("stations", "Yield per station", "Hiệu suất theo trạm"),
    ("line_yield", "Line yield", "Hiệu suất dây chuyền"),
    ("downtime", "Downtime", "Thời gian dừng"),
    ("entries", "Entries", "Các mục"),
    ("figures", "Figures", "Chỉ số"),
    (
        "verify_how",
        "The plant exports the entries with the records they count into a bundle (first command); anyone verifies the bundle with the plant's public key and no database (second command): every figure is recomputed from the raw records, every hash, signature and checkpoint checked.",
        "Nhà máy xuất các mục cùng bản ghi gốc thành một gói (lệnh thứ nhất); bất kỳ ai cũng kiểm tra gói bằng khóa công khai của nhà máy mà không cần cơ sở dữ liệu (lệnh thứ hai): mọi chỉ số được tính lại từ bản ghi gốc, mọi mã băm, chữ ký và điểm kiểm đều được kiểm tra.",
    ),
    ("auditor_sign", "Auditor", "Kiểm toán viên"),
    ("supplement", "Supplement", "Bổ sung"),
    ("correction", "Correction", "Hiệu chỉnh"),
    ("pass", "pass", "đạt"),
    ("fail", "fail", "lỗi"),
    (
        "possible_note",
        "Links marked possible: the reel or lot may be in this unit (it was on the machine while the unit was built); a recall includes them.",
        "Liên kết đánh dấu có thể: cuộn hoặc lô có thể nằm trong sản phẩm này (đang gắn trên máy khi sản phẩm được lắp); khi thu hồi phải tính cả chúng.",
    ),
    ("supervisor_sign", "Shift supervisor", "Trưởng ca"),
    ("quality_sign", "Quality engineer", "Kỹ sư chất lượng"),
];

/// `key` in `lang`; the key itself when the table has no such word (so a template's typo shows).
pub fn word(lang: Lang, key: &str) -> &str {
    WORDS.iter().find(|w| w.0 == key).map_or(key, |w| match lang {
        Lang::En => w.1,
        Lang::Vi => w.2,
    })
}

/// Every word in `lang`, by key (the templates' `w`).
pub fn map(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS
        .iter()
        .map(|w| {
            (
                w.0,
                match lang {
                    Lang::En => w.1,
                    Lang::Vi => w.2,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_both_languages_and_one_key() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, en, vi) in WORDS {
            assert!(keys.insert(*key), "{key} twice");
            assert!(!en.is_empty() && !vi.is_empty(), "{key}");
        }
        assert_eq!(word(Lang::Vi, "line"), "Dây chuyền");
        assert_eq!(word(Lang::En, "no_such_word"), "no_such_word");
    }
}
