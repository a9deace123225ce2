//! The API reference's text in Vietnamese: every summary, description, parameter and answer of
//! the served OpenAPI document, keyed by its English text (whitespace collapsed). The document
//! itself stays English (it is what integrators' tools read); the page a person reads follows
//! the chosen language. A unit test fails on any text of the document without a translation,
//! so a new or reworded operation cannot leave English on the Vietnamese page.

/// English text (whitespace collapsed) → Vietnamese.
pub(super) const VI: &[(&str, &str)] = &[
    // Groups (the document's tags).
    ("audit", "Kiểm toán"),
    ("auth", "Đăng nhập"),
    ("genealogy", "Truy xuất nguồn gốc"),
    ("holds", "Cách ly"),
    ("kpi", "Chỉ số KPI"),
    ("lines", "Dây chuyền"),
    ("reports", "Báo cáo"),
    // Where a parameter goes.
    ("path", "đường dẫn"),
    ("query", "truy vấn"),
    // Operations, parameters and answers.
    ("A file name from `/api/v1/reports`", "Tên tệp lấy từ `/api/v1/reports`"),
    (
        "A malformed or missing field, or a lot code of several materials without `part_number` or `supplier` to tell which (`ambiguous_lot`)",
        "Một trường sai dạng hoặc thiếu, hoặc mã lô thuộc nhiều vật tư mà không có `part_number` hay `supplier` để chọn (`ambiguous_lot`)",
    ),
    (
        "A named shift, `YYYY-MM-DD NAME` in plant time (shift report).",
        "Một ca có tên, `YYYY-MM-DD NAME` theo giờ nhà máy (báo cáo ca).",
    ),
    (
        "A parameter is malformed or missing (`line` for shift and yield, `serial` for trace, `table` for csv, `chart` for png), or the period breaks a rule: `from` before `to`, at most 400 days",
        "Một tham số sai dạng hoặc thiếu (`line` cho báo cáo ca và hiệu suất, `serial` cho chứng nhận truy xuất, `table` cho CSV, `chart` cho PNG), hoặc khoảng thời gian phạm quy tắc: `from` trước `to`, tối đa 400 ngày",
    ),
    (
        "A parameter is malformed, or the period breaks a rule: `from` before `to`, at most 400 days, at most 2500 slices",
        "Một tham số sai dạng, hoặc khoảng thời gian phạm quy tắc: `from` trước `to`, tối đa 400 ngày, tối đa 2500 lát",
    ),
    (
        "A parameter or the body is malformed; the message names it",
        "Một tham số hoặc nội dung gửi lên sai dạng; thông báo nêu rõ chỗ sai",
    ),
    (
        "A period holds more rows than one request may read",
        "Khoảng thời gian chứa nhiều dòng hơn mức một yêu cầu được đọc",
    ),
    (
        "A report made now: the shift report, yield report, trace certificate of a serial, or output audit report (auditors and admins), as print-ready HTML, one of its tables as CSV (UTF-8 with a byte-order mark) or one of its charts as PNG.",
        "Một báo cáo lập ngay lúc này: báo cáo ca, báo cáo hiệu suất, chứng nhận truy xuất của một số sê-ri, hoặc báo cáo kiểm toán sản lượng (kiểm toán viên và quản trị viên), dạng HTML sẵn để in, một bảng của nó dạng CSV (UTF-8 có dấu thứ tự byte) hoặc một biểu đồ dạng PNG.",
    ),
    (
        "A unit by serial: status, hold, when first seen, every station visit.",
        "Một sản phẩm theo số sê-ri: trạng thái, cách ly, lần đầu ghi nhận, mọi lượt qua trạm.",
    ),
    ("At most this many (default 1,000, at most 10,000).", "Tối đa bấy nhiêu (mặc định 1.000, tối đa 10.000)."),
    (
        "Backward genealogy: the tree of everything in the unit, with every unit's visits.",
        "Truy xuất ngược: cây mọi thứ nằm trong sản phẩm, kèm các lượt qua trạm của từng sản phẩm.",
    ),
    (
        "Changes the caller's password: every session of the user ends (here and in every other web process), and a token for a new one is returned.",
        "Đổi mật khẩu của người gọi: mọi phiên của người dùng kết thúc (tại đây và ở mọi tiến trình web khác), và trả về mã cho một phiên mới.",
    ),
    (
        "Defects by code, most frequent first (`mes kpi pareto --json`).",
        "Lỗi theo mã, thường gặp nhất trước (`mes kpi pareto --json`).",
    ),
    ("End (exclusive); default now.", "Kết thúc (không gồm); mặc định là bây giờ."),
    (
        "Every line now: status, stations' states, this shift's output against plan, first-pass yield, OEE, downtime, held units (what the overview page shows; refreshed when the store changes, at least every 5 s).",
        "Mọi dây chuyền lúc này: trạng thái, trạng thái các trạm, sản lượng ca này so với kế hoạch, hiệu suất đạt lần đầu, OEE, thời gian dừng, sản phẩm bị cách ly (những gì trang tổng quan hiển thị; làm mới khi dữ liệu thay đổi, ít nhất mỗi 5 giây).",
    ),
    ("Every registered line with its stations.", "Mọi dây chuyền đã đăng ký cùng các trạm của nó."),
    (
        "First-pass, final and rolled throughput yield per station, scrap rate and DPMO, counters beside records (`mes kpi yield --json`).",
        "Hiệu suất đạt lần đầu, đạt cuối và thông qua tích lũy theo trạm, tỷ lệ phế phẩm và DPMO, bộ đếm bên cạnh bản ghi (`mes kpi yield --json`).",
    ),
    (
        "Forward genealogy: every unit containing a lot, reel or serial at any depth, \"contains\" and \"possibly contains\" apart, with status, hold and last location.",
        "Truy xuất xuôi: mọi sản phẩm chứa một lô, cuộn linh kiện hoặc số sê-ri ở bất kỳ tầng nào, tách riêng \"chứa\" và \"có thể chứa\", kèm trạng thái, cách ly và vị trí sau cùng.",
    ),
    ("Holds, newest first", "Các lệnh cách ly, mới nhất trước"),
    ("How many holds were released", "Số lệnh cách ly đã được gỡ"),
    (
        "Language: `en` or `vi` (default: the page language cookie, else `en`).",
        "Ngôn ngữ: `en` hoặc `vi` (mặc định: cookie ngôn ngữ của trang, nếu không thì `en`).",
    ),
    (
        "Line code (shift and yield; audit: only this line).",
        "Mã dây chuyền (báo cáo ca và hiệu suất; kiểm toán: chỉ dây chuyền này).",
    ),
    ("Line code, e.g. phone-1", "Mã dây chuyền, ví dụ phone-1"),
    ("Line code.", "Mã dây chuyền."),
    (
        "Logs in: a bearer token for the API (SPEC §8), naming a new session. Limited to a few attempts per minute per client address.",
        "Đăng nhập: một mã bearer cho API (SPEC §8), gắn với một phiên mới. Giới hạn vài lần thử mỗi phút cho mỗi địa chỉ máy khách.",
    ),
    (
        "Logs out: the token's session ends, in every web process sharing the store.",
        "Đăng xuất: phiên của mã kết thúc, ở mọi tiến trình web dùng chung kho dữ liệu.",
    ),
    ("Lot or reel id.", "Mã lô hoặc cuộn linh kiện."),
    ("No such entry, or no checkpoint covers it yet", "Không có mục này, hoặc chưa có điểm kiểm chứng nào bao gồm nó"),
    ("No such line or station", "Không có dây chuyền hay trạm này"),
    ("No such report file", "Không có tệp báo cáo này"),
    (
        "No such report kind, unit, shift or closed period, or no such table or chart in it",
        "Không có loại báo cáo, sản phẩm, ca hay kỳ đã chốt này, hoặc không có bảng hay biểu đồ này trong đó",
    ),
    ("No valid session: log in first", "Không có phiên hợp lệ: hãy đăng nhập trước"),
    ("Not 1 <= first <= second <= the log's size", "Không thỏa 1 <= `first` <= `second` <= kích thước sổ"),
    (
        "Not exactly one of `lot` and `serial`, or one malformed, or a lot code of several materials without `part_number` or `supplier` to tell which (`ambiguous_lot`)",
        "Không phải đúng một trong `lot` và `serial`, hoặc một giá trị sai dạng, hoặc mã lô thuộc nhiều vật tư mà không có `part_number` hay `supplier` để chọn (`ambiguous_lot`)",
    ),
    ("Nothing closed yet", "Chưa chốt kỳ nào"),
    (
        "OEE per ISO 22400-2 per station and for the line (`mes kpi oee --json`).",
        "OEE theo ISO 22400-2 cho từng trạm và cho cả dây chuyền (`mes kpi oee --json`).",
    ),
    (
        "One entry with its inclusion proof (RFC 9162 audit path) in the tree of the newest signed checkpoint: hash the payload as a leaf, climb the path, compare with the checkpoint's root.",
        "Một mục cùng bằng chứng thuộc cây (đường kiểm toán RFC 9162) trong cây của điểm kiểm chứng đã ký mới nhất: băm nội dung như một lá, đi lên theo đường, so với gốc của điểm kiểm chứng.",
    ),
    ("One line with its stations in route order.", "Một dây chuyền cùng các trạm theo thứ tự công đoạn."),
    ("One written report file: HTML, CSV or PNG.", "Một tệp báo cáo đã ghi: HTML, CSV hoặc PNG."),
    ("Only auditors and admins read audit reports", "Chỉ kiểm toán viên và quản trị viên được đọc báo cáo kiểm toán"),
    ("Only auditors and admins read the ledger", "Chỉ kiểm toán viên và quản trị viên được đọc sổ kiểm toán"),
    ("Only entries after this position (paging).", "Chỉ các mục sau vị trí này (phân trang)."),
    (
        "Periods ending after this: RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`.",
        "Các kỳ kết thúc sau thời điểm này: RFC 3339 hoặc giờ nhà máy `YYYY-MM-DD[THH:MM]`.",
    ),
    ("Periods starting before this.", "Các kỳ bắt đầu trước thời điểm này."),
    (
        "Places a hold (quality and admin roles): `mes hold` over HTTP.",
        "Đặt lệnh cách ly (vai trò chất lượng và quản trị): `mes hold` qua HTTP.",
    ),
    ("Releases a hold (quality and admin roles).", "Gỡ lệnh cách ly (vai trò chất lượng và quản trị)."),
    (
        "Scope keys, then `DowntimeFigures` at the top level, or per slice under `buckets` with `by`",
        "Các khóa phạm vi, rồi `DowntimeFigures` ở cấp trên cùng, hoặc theo từng lát trong `buckets` khi có `by`",
    ),
    (
        "Scope keys, then `OeeFigures` at the top level, or per slice under `buckets` with `by`",
        "Các khóa phạm vi, rồi `OeeFigures` ở cấp trên cùng, hoặc theo từng lát trong `buckets` khi có `by`",
    ),
    (
        "Scope keys, then `ParetoFigures` at the top level, or per slice under `buckets` with `by`",
        "Các khóa phạm vi, rồi `ParetoFigures` ở cấp trên cùng, hoặc theo từng lát trong `buckets` khi có `by`",
    ),
    (
        "Scope keys, then `YieldFigures` at the top level, or per slice under `buckets` with `by`",
        "Các khóa phạm vi, rồi `YieldFigures` ở cấp trên cùng, hoặc theo từng lát trong `buckets` khi có `by`",
    ),
    ("Serial (trace certificate).", "Số sê-ri (chứng nhận truy xuất)."),
    ("Serial of a sub-assembly (e.g. a PCBA).", "Số sê-ri của một cụm lắp ráp con (ví dụ một bo mạch PCBA)."),
    (
        "Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`.",
        "Bắt đầu (gồm cả): RFC 3339 hoặc giờ nhà máy `YYYY-MM-DD[THH:MM]`.",
    ),
    (
        "Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`; default 24 h before `to`.",
        "Bắt đầu (gồm cả): RFC 3339 hoặc giờ nhà máy `YYYY-MM-DD[THH:MM]`; mặc định 24 giờ trước `to`.",
    ),
    ("Station code.", "Mã trạm."),
    ("The bundle (canonical JSON, signed)", "Gói dữ liệu (JSON chuẩn tắc, đã ký)"),
    ("The bundle would be larger than the API hands out", "Gói dữ liệu sẽ lớn hơn mức API cấp ra"),
    (
        "The chart to give as PNG (`hourly`, `timeline`, `defects`, `downtime`, `trend`).",
        "Biểu đồ cần lấy dạng PNG (`hourly`, `timeline`, `defects`, `downtime`, `trend`).",
    ),
    (
        "The consistency proof (RFC 9162 §2.1.4) that the tree of `second` entries extends the tree of `first` entries unchanged, with both roots.",
        "Bằng chứng nhất quán (RFC 9162 §2.1.4) rằng cây `second` mục nối dài cây `first` mục mà không thay đổi gì, kèm cả hai gốc.",
    ),
    ("The entry's position in the log, from 0", "Vị trí của mục trong sổ, tính từ 0"),
    ("The file", "Tệp"),
    ("The hold is placed", "Đã đặt lệnh cách ly"),
    (
        "The item reaches more genealogy than one trace may walk",
        "Mục này dẫn tới nhiều quan hệ nguồn gốc hơn mức một lần truy xuất được duyệt",
    ),
    (
        "The ledger's entries, oldest first: closed periods, supplements for late records and corrections, each with its headline figures (as recorded, and as corrected since), leaf hash, chain link, signature and canonical bytes.",
        "Các mục của sổ kiểm toán, cũ nhất trước: kỳ đã chốt, mục bổ sung cho bản ghi đến muộn và hiệu chỉnh, mỗi mục kèm số liệu chính (như đã ghi, và như đã hiệu chỉnh sau đó), băm lá, liên kết chuỗi, chữ ký và các byte chuẩn tắc.",
    ),
    (
        "The lot's part number, where its code names lots of several materials.",
        "Mã vật tư của lô, khi mã lô trùng giữa nhiều vật tư.",
    ),
    ("The lot's supplier, likewise.", "Nhà cung cấp của lô, tương tự."),
    (
        "The newer tree size (at least `first`, at most the log's size).",
        "Kích thước cây mới hơn (ít nhất `first`, tối đa kích thước sổ).",
    ),
    (
        "The newest holds, in force or released, newest first (`mes holds --json`).",
        "Các lệnh cách ly mới nhất, đang hiệu lực hoặc đã gỡ, mới nhất trước (`mes holds --json`).",
    ),
    (
        "The newest signed checkpoint (C2SP tlog-checkpoint in a signed note): the tree head an auditor keeps, so that a later rewrite or cut of the log is caught.",
        "Điểm kiểm chứng đã ký mới nhất (C2SP tlog-checkpoint trong một ghi chú đã ký): đầu cây mà kiểm toán viên giữ lại, để phát hiện nếu sau này sổ bị viết lại hay cắt bớt.",
    ),
    ("The newest this many (default 1000, at most 10000).", "Bấy nhiêu mục mới nhất (mặc định 1000, tối đa 10000)."),
    ("The older tree size (at least 1).", "Kích thước cây cũ hơn (ít nhất 1)."),
    (
        "The period holds more rows than one request may read",
        "Khoảng thời gian chứa nhiều dòng hơn mức một yêu cầu được đọc",
    ),
    ("The report", "Báo cáo"),
    (
        "The reports the server wrote by itself (each ended shift, each closed period), newest first; audit reports only for auditors and admins.",
        "Các báo cáo máy chủ tự lập (mỗi ca đã kết thúc, mỗi kỳ đã chốt), mới nhất trước; báo cáo kiểm toán chỉ dành cho kiểm toán viên và quản trị viên.",
    ),
    (
        "The role may not hold, or a cookie session sent no CSRF token",
        "Vai trò không được đặt cách ly, hoặc phiên cookie không gửi mã CSRF",
    ),
    (
        "The role may not release, or a cookie session sent no CSRF token",
        "Vai trò không được gỡ cách ly, hoặc phiên cookie không gửi mã CSRF",
    ),
    ("The session has ended", "Phiên đã kết thúc"),
    (
        "The signed offline bundle of the chosen periods (`mes audit export`): verify it with `mes audit verify --bundle FILE --key KEY`, no database needed.",
        "Gói ngoại tuyến đã ký của các kỳ đã chọn (`mes audit export`): kiểm chứng bằng `mes audit verify --bundle FILE --key KEY`, không cần cơ sở dữ liệu.",
    ),
    (
        "The store failed, or the server is busy with costly work (Retry-After)",
        "Kho dữ liệu gặp lỗi, hoặc máy chủ đang bận việc nặng (Retry-After)",
    ),
    (
        "The table to give as CSV (`stations`, `oee`, …: the report's table names).",
        "Bảng cần lấy dạng CSV (`stations`, `oee`, …: tên các bảng của báo cáo).",
    ),
    ("The target was already on hold; nothing changed", "Đối tượng đã bị cách ly từ trước; không có gì thay đổi"),
    ("The unit and its visits", "Sản phẩm và các lượt qua trạm của nó"),
    ("The unit is unknown to the MES", "MES không biết sản phẩm này"),
    (
        "The unit's genealogy is larger than one trace may walk",
        "Cây nguồn gốc của sản phẩm lớn hơn mức một lần truy xuất được duyệt",
    ),
    ("This web host does not hold the plant's ledger key", "Máy chủ web này không giữ khóa sổ kiểm toán của nhà máy"),
    (
        "Time by machine state, breakdowns, MTBF, MTTR and downtime by reason (`mes kpi downtime --json`).",
        "Thời gian theo trạng thái máy, sự cố, MTBF, MTTR và thời gian dừng theo nguyên nhân (`mes kpi downtime --json`).",
    ),
    ("Trend slices of the yield report.", "Các lát xu hướng của báo cáo hiệu suất."),
    ("Unit serial (URL-encoded)", "Số sê-ri sản phẩm (mã hóa URL)"),
    (
        "Verifies the ledger now (`mes audit verify --json`): every hash, signature and checkpoint, and the closed periods in scope recomputed from the raw records.",
        "Kiểm chứng sổ kiểm toán ngay (`mes audit verify --json`): mọi giá trị băm, chữ ký và điểm kiểm chứng, và các kỳ đã chốt trong phạm vi được tính lại từ bản ghi gốc.",
    ),
    (
        "What the line page shows: stations in route order with WIP and their state timeline this shift, output per hour against plan, the top five defects (the live state and headline figures are in `/api/v1/summary`).",
        "Những gì trang dây chuyền hiển thị: các trạm theo thứ tự công đoạn với WIP và dòng thời gian trạng thái trong ca này, sản lượng mỗi giờ so với kế hoạch, năm lỗi hàng đầu (trạng thái trực tiếp và số liệu chính nằm ở `/api/v1/summary`).",
    ),
    (
        "`html` (default), `csv` (with `table`) or `png` (with `chart`).",
        "`html` (mặc định), `csv` (kèm `table`) hoặc `png` (kèm `chart`).",
    ),
    ("`item` and `units`", "`item` và `units`"),
    (
        "`shift`, `day` or `hour`: figures per plant shift, local day or local hour.",
        "`shift`, `day` hoặc `hour`: số liệu theo ca nhà máy, theo ngày hoặc theo giờ địa phương.",
    ),
    ("`tree` and `units` (by serial)", "`tree` và `units` (theo số sê-ri)"),
    ("shift, yield, trace or audit", "`shift` (ca), `yield` (hiệu suất), `trace` (truy xuất) hoặc `audit` (kiểm toán)"),
];

/// `text` in Vietnamese, if the table has it (compared with whitespace collapsed).
pub(super) fn vietnamese(text: &str) -> Option<&'static str> {
    let key = collapse(text);
    VI.iter().find(|(en, _)| *en == key).map(|(_, vi)| *vi)
}

/// `text` with every run of whitespace one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
