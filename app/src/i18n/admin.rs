//! The administrators' interface text, in both languages. Only the admin pages
//! read it, so the payers' browser bundle leaves it out. Adding a string means
//! adding it to both tables, which the compiler enforces.

use super::Lang;
use crate::domain::form::FormStatus;

impl Lang {
    /// The administrators' texts in this language.
    pub fn admin(self) -> &'static AdminStrings {
        match self {
            Lang::Zh => &ADMIN_ZH,
            Lang::En => &ADMIN_EN,
        }
    }

    /// One of a pair of texts the server gives in both languages (a provider
    /// kind's name, a credential's label).
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

pub struct AdminStrings {
    // The navigation on every admin page.
    pub nav_overview: &'static str,
    pub nav_forms: &'static str,
    pub nav_orders: &'static str,
    pub nav_stats: &'static str,
    pub nav_accounts: &'static str,
    pub nav_audit: &'static str,

    // Shared by several pages.
    pub save: &'static str,
    pub filter: &'static str,
    pub export_csv: &'static str,
    pub date_from: &'static str,
    pub date_to: &'static str,
    pub today: &'static str,
    pub last_7_days: &'static str,
    pub last_30_days: &'static str,

    // The dashboard: password and overview.
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub password_changed: &'static str,
    pub password_wrong_current: &'static str,
    pub password_bad_new: &'static str,
    pub password_unavailable: &'static str,
    /// After a number of paid orders.
    pub orders_suffix: &'static str,
    pub recent_orders: &'static str,

    // Receiving accounts.
    pub accounts_title: &'static str,
    pub master_key_missing: &'static str,
    pub account_name: &'static str,
    pub account_kind: &'static str,
    pub key_fingerprints: &'static str,
    pub default_account_row: &'static str,
    pub account_disabled: &'static str,
    pub edit: &'static str,
    pub disable: &'static str,
    pub enable: &'static str,
    pub new_account: &'static str,
    pub edit_account: &'static str,
    pub form_accounts_title: &'static str,
    pub default_account: &'static str,
    pub saved: &'static str,
    pub test_connection: &'static str,
    pub connection_ok: &'static str,
    pub keep_stored_value: &'static str,

    // Forms: the list and the builder.
    pub forms_title: &'static str,
    pub new_form: &'static str,
    pub col_title: &'static str,
    pub col_link: &'static str,
    pub col_status: &'static str,
    pub col_submissions: &'static str,
    pub form_draft: &'static str,
    pub form_published: &'static str,
    pub form_closed: &'static str,
    pub edit_form: &'static str,
    pub fields: &'static str,
    pub add_field: &'static str,
    pub publish: &'static str,
    pub close_form: &'static str,
    pub view_submissions: &'static str,
    pub share_link: &'static str,
    pub preview: &'static str,

    // Submissions.
    pub search_answers: &'static str,
    pub all_statuses: &'static str,
    pub no_payment: &'static str,

    // The orders list.
    pub orders_title: &'static str,
    pub order_search_placeholder: &'static str,
    pub any_status: &'static str,
    pub any_method: &'static str,
    pub min_amount: &'static str,
    pub max_amount: &'static str,
    pub any_form: &'static str,
    /// Between the number of orders and the page number.
    pub orders_then_page: &'static str,
    pub col_created: &'static str,
    pub col_form: &'static str,
    pub col_refunded: &'static str,
    pub col_method: &'static str,

    // One order.
    /// Before the order's number.
    pub order_heading: &'static str,
    pub order_refunded: &'static str,
    pub order_form: &'static str,
    pub order_method: &'static str,
    pub order_created: &'static str,
    pub order_paid: &'static str,
    pub order_expires: &'static str,
    pub order_receipt: &'static str,
    pub query_now: &'static str,
    pub close_order: &'static str,
    pub accept_payment: &'static str,
    pub refund_review_heading: &'static str,
    pub refund_heading: &'static str,
    pub refund_which_payment: &'static str,
    /// Before the most that can be refunded.
    pub refund_amount_at_most: &'static str,
    pub refund_reason: &'static str,
    pub refund_button: &'static str,
    pub payment_attempts: &'static str,
    pub refunds_title: &'static str,
    pub event_log: &'static str,
    pub provider_messages: &'static str,
    pub refund_processing: &'static str,
    pub refund_succeeded: &'static str,
    pub refund_closed: &'static str,
    pub refund_abnormal: &'static str,

    // What an action on an order came to; some are followed by a value.
    pub action_done: &'static str,
    pub action_not_found: &'static str,
    pub action_wrong_status: &'static str,
    pub action_exceeds_remaining: &'static str,
    pub action_bad_amount: &'static str,
    pub action_bad_reason: &'static str,
    pub action_key_reused: &'static str,
    pub action_choose_payment: &'static str,
    pub action_review_first: &'static str,
    pub action_provider_failed: &'static str,

    // Income statistics.
    pub stats_title: &'static str,
    pub all_forms: &'static str,
    pub show: &'static str,
    pub export_refunds_csv: &'static str,
    pub stat_net_income: &'static str,
    pub stat_received: &'static str,
    pub stat_refunded: &'static str,
    /// The providers' fees, from the reconciled bills.
    pub stat_fees: &'static str,
    /// Shared with receivers (分账).
    pub stat_shares: &'static str,
    pub stat_count: &'static str,
    pub stat_average_per_order: &'static str,
    pub col_net: &'static str,
    pub col_average: &'static str,
    pub per_form: &'static str,
    pub per_method: &'static str,
    pub daily_net_income: &'static str,

    // The audit log and security events.
    pub audit_title: &'static str,
    pub col_when: &'static str,
    pub col_who: &'static str,
    pub col_action: &'static str,
    pub col_target: &'static str,
    pub col_detail: &'static str,
    pub security_events: &'static str,
    pub rejected_callbacks: &'static str,
}

pub const ADMIN_ZH: AdminStrings = AdminStrings {
    nav_overview: "概览",
    nav_forms: "表单",
    nav_orders: "订单",
    nav_stats: "收入统计",
    nav_accounts: "收款账户",
    nav_audit: "操作日志",

    save: "保存",
    filter: "筛选",
    export_csv: "导出 CSV",
    date_from: "从",
    date_to: "到",
    today: "今日",
    last_7_days: "近 7 天",
    last_30_days: "近 30 天",

    change_password: "修改密码",
    current_password: "当前密码",
    new_password: "新密码（至少 10 个字符）",
    password_changed: "密码已修改，其他会话已退出",
    password_wrong_current: "当前密码不正确",
    password_bad_new: "新密码需要 10 到 256 个字符",
    password_unavailable: "暂时无法修改密码，请稍后再试",
    orders_suffix: " 笔",
    recent_orders: "最近订单",

    accounts_title: "收款账户",
    master_key_missing: "未设置 APP_MASTER_KEY：无法保存或使用账户密钥。",
    account_name: "名称",
    account_kind: "类型",
    key_fingerprints: "密钥指纹",
    default_account_row: "默认（环境变量，只读）",
    account_disabled: "（已停用）",
    edit: "编辑",
    disable: "停用",
    enable: "启用",
    new_account: "新增收款账户",
    edit_account: "编辑收款账户",
    form_accounts_title: "各表单使用的收款账户",
    default_account: "默认账户",
    saved: "已保存",
    test_connection: "测试连接",
    connection_ok: "连接正常，签名有效",
    keep_stored_value: "留空则保留已保存的值",

    forms_title: "表单",
    new_form: "新建表单",
    col_title: "标题",
    col_link: "链接",
    col_status: "状态",
    col_submissions: "提交",
    form_draft: "草稿",
    form_published: "收集中",
    form_closed: "已关闭",
    edit_form: "编辑表单",
    fields: "字段",
    add_field: "＋ 添加字段",
    publish: "发布",
    close_form: "关闭",
    view_submissions: "查看提交",
    share_link: "分享链接",
    preview: "预览",

    search_answers: "搜索填写内容",
    all_statuses: "全部",
    no_payment: "无需支付",

    orders_title: "订单",
    order_search_placeholder: "订单号 / 支付单号 / 填写内容",
    any_status: "全部状态",
    any_method: "全部方式",
    min_amount: "最低金额",
    max_amount: "最高金额",
    any_form: "全部表单",
    orders_then_page: " 笔订单 · 第 ",
    col_created: "创建时间",
    col_form: "表单",
    col_refunded: "已退",
    col_method: "方式",

    order_heading: "订单 ",
    order_refunded: "已退款",
    order_form: "表单",
    order_method: "方式",
    order_created: "创建",
    order_paid: "支付",
    order_expires: "过期",
    order_receipt: "凭证",
    query_now: "立即查询支付机构",
    close_order: "关闭订单",
    accept_payment: "接受这笔付款",
    refund_review_heading: "或退还这笔付款",
    refund_heading: "退款",
    refund_which_payment: "退还哪一笔付款",
    refund_amount_at_most: "退款金额（元），最多 ",
    refund_reason: "原因",
    refund_button: "退款",
    payment_attempts: "支付尝试",
    refunds_title: "退款记录",
    event_log: "事件记录",
    provider_messages: "与支付机构的通信（已脱敏）",
    refund_processing: "处理中",
    refund_succeeded: "退款成功",
    refund_closed: "退款关闭",
    refund_abnormal: "退款异常",

    action_done: "已完成，订单状态：",
    action_not_found: "没有这个订单",
    action_wrong_status: "订单当前状态不允许此操作：",
    action_exceeds_remaining: "超过可退金额，最多还可退 ¥",
    action_bad_amount: "请输入有效的退款金额（至少 0.01 元）",
    action_bad_reason: "请填写退款原因（不超过 80 字）",
    action_key_reused: "该请求已用于另一笔退款，请刷新页面",
    action_choose_payment: "这笔订单收到了多笔付款，请选择要退还哪一笔",
    action_review_first: "这笔订单待核查：请先决定接受付款或退还付款",
    action_provider_failed: "支付机构返回错误：",

    stats_title: "收入统计",
    all_forms: "全部表单",
    show: "查看",
    export_refunds_csv: "导出退款 CSV",
    stat_net_income: "净收入",
    stat_received: "收款",
    stat_refunded: "退款",
    stat_fees: "手续费（对账后）",
    stat_shares: "分账",
    stat_count: "笔数",
    stat_average_per_order: "平均每笔",
    col_net: "净收入",
    col_average: "平均",
    per_form: "按表单",
    per_method: "按支付方式",
    daily_net_income: "每日净收入",

    audit_title: "操作日志",
    col_when: "时间",
    col_who: "管理员",
    col_action: "操作",
    col_target: "对象",
    col_detail: "详情",
    security_events: "安全事件",
    rejected_callbacks: "验签失败的回调（自启动以来）：",
};

pub const ADMIN_EN: AdminStrings = AdminStrings {
    nav_overview: "Overview",
    nav_forms: "Forms",
    nav_orders: "Orders",
    nav_stats: "Income",
    nav_accounts: "Accounts",
    nav_audit: "Audit log",

    save: "Save",
    filter: "Filter",
    export_csv: "Export CSV",
    date_from: "From",
    date_to: "To",
    today: "Today",
    last_7_days: "7 days",
    last_30_days: "30 days",

    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password (at least 10 characters)",
    password_changed: "Password changed; your other sessions were ended",
    password_wrong_current: "The current password is wrong",
    password_bad_new: "The new password needs 10 to 256 characters",
    password_unavailable: "The password cannot be changed right now; try again",
    orders_suffix: " orders",
    recent_orders: "Recent orders",

    accounts_title: "Receiving accounts",
    master_key_missing: "APP_MASTER_KEY is not set: account keys cannot be stored or used.",
    account_name: "Name",
    account_kind: "Kind",
    key_fingerprints: "Key fingerprints",
    default_account_row: "Default (environment, read only)",
    account_disabled: " (disabled)",
    edit: "Edit",
    disable: "Disable",
    enable: "Enable",
    new_account: "New receiving account",
    edit_account: "Edit receiving account",
    form_accounts_title: "Which account each form uses",
    default_account: "Default account",
    saved: "Saved",
    test_connection: "Test connection",
    connection_ok: "OK, signatures verified",
    keep_stored_value: "Leave empty to keep the stored value",

    forms_title: "Forms",
    new_form: "New form",
    col_title: "Title",
    col_link: "Link",
    col_status: "Status",
    col_submissions: "Submissions",
    form_draft: "Draft",
    form_published: "Published",
    form_closed: "Closed",
    edit_form: "Edit form",
    fields: "Fields",
    add_field: "+ Add a field",
    publish: "Publish",
    close_form: "Close",
    view_submissions: "Submissions",
    share_link: "Share link",
    preview: "Preview",

    search_answers: "Search answers",
    all_statuses: "All",
    no_payment: "No payment",

    orders_title: "Orders",
    order_search_placeholder: "Order no. / transaction / answers",
    any_status: "Any status",
    any_method: "Any method",
    min_amount: "Min ¥",
    max_amount: "Max ¥",
    any_form: "Any form",
    orders_then_page: " orders · page ",
    col_created: "Created",
    col_form: "Form",
    col_refunded: "Refunded",
    col_method: "Method",

    order_heading: "Order ",
    order_refunded: "Refunded",
    order_form: "Form",
    order_method: "Method",
    order_created: "Created",
    order_paid: "Paid",
    order_expires: "Expires",
    order_receipt: "Receipt",
    query_now: "Query provider now",
    close_order: "Close order",
    accept_payment: "Accept the payment",
    refund_review_heading: "Or refund the payment",
    refund_heading: "Refund",
    refund_which_payment: "Which payment",
    refund_amount_at_most: "Amount (yuan), at most ",
    refund_reason: "Reason",
    refund_button: "Refund",
    payment_attempts: "Payment attempts",
    refunds_title: "Refunds",
    event_log: "Event log",
    provider_messages: "Provider messages (redacted)",
    refund_processing: "Processing",
    refund_succeeded: "Succeeded",
    refund_closed: "Closed",
    refund_abnormal: "Abnormal",

    action_done: "Done. The order is now: ",
    action_not_found: "No such order",
    action_wrong_status: "Not possible while the order is: ",
    action_exceeds_remaining: "More than can be refunded; at most ¥",
    action_bad_amount: "Enter a valid amount (at least 0.01)",
    action_bad_reason: "Give a reason (80 characters at most)",
    action_key_reused: "This request was used for another refund; reload the page",
    action_choose_payment: "This order was paid more than once: choose which payment to refund",
    action_review_first: "This order is kept for review: accept the payment or refund it first",
    action_provider_failed: "The provider answered: ",

    stats_title: "Income",
    all_forms: "All forms",
    show: "Show",
    export_refunds_csv: "Export refunds CSV",
    stat_net_income: "Net income",
    stat_received: "Received",
    stat_refunded: "Refunded",
    stat_fees: "Fees (once reconciled)",
    stat_shares: "Shared (profit sharing)",
    stat_count: "Orders",
    stat_average_per_order: "Average",
    col_net: "Net",
    col_average: "Average",
    per_form: "Per form",
    per_method: "Per method",
    daily_net_income: "Net income per day",

    audit_title: "Audit log",
    col_when: "When",
    col_who: "Who",
    col_action: "Action",
    col_target: "Target",
    col_detail: "Detail",
    security_events: "Security events",
    rejected_callbacks: "Callbacks that failed verification (since start): ",
};

impl AdminStrings {
    /// A form's state in the builder and the list.
    pub fn form_status(&self, s: FormStatus) -> &'static str {
        match s {
            FormStatus::Draft => self.form_draft,
            FormStatus::Published => self.form_published,
            FormStatus::Closed => self.form_closed,
        }
    }

    /// A refund's state as the server names it (`processing`, `succeeded`,
    /// `closed`; anything else is abnormal).
    pub fn refund_status(&self, s: &str) -> &'static str {
        match s {
            "processing" => self.refund_processing,
            "succeeded" => self.refund_succeeded,
            "closed" => self.refund_closed,
            _ => self.refund_abnormal,
        }
    }

    /// The overview's income periods as the server names them (`today`,
    /// `7d`; anything else is the last 30 days).
    pub fn income_period(&self, key: &str) -> &'static str {
        match key {
            "today" => self.today,
            "7d" => self.last_7_days,
            _ => self.last_30_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_table_by_language() {
        assert_eq!(Lang::Zh.admin().refund_status("succeeded"), "退款成功");
        assert_eq!(Lang::En.admin().refund_status("succeeded"), "Succeeded");
        assert_eq!(Lang::Zh.admin().refund_status("odd"), "退款异常");
        assert_eq!(Lang::En.admin().income_period("7d"), "7 days");
        assert_eq!(
            Lang::Zh.admin().form_status(FormStatus::Published),
            "收集中"
        );
        assert_eq!(Lang::En.pick("中", "en"), "en");
    }
}
