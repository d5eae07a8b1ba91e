//! Every piece of interface text, in one place. Chinese (zh-CN) is the default;
//! English is one click away. Adding a string means adding it to both tables,
//! which the compiler enforces. The administrators' text is in [`admin`].

use leptos::prelude::*;

pub mod admin;
pub mod people;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// The cookie holding the chosen language.
pub const LANG_COOKIE: &str = "lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn from_cookie_header(header: &str) -> Lang {
        header
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == LANG_COOKIE)
            .map(|(_, v)| if v == "en" { Lang::En } else { Lang::Zh })
            .unwrap_or_default()
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn t(self) -> &'static Strings {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }
}

pub struct Strings {
    pub app_name: &'static str,
    pub switch_to_other: &'static str,
    pub home_title: &'static str,
    pub home_lead: &'static str,
    pub home_feature_forms: &'static str,
    pub home_feature_pay: &'static str,
    pub home_feature_live: &'static str,
    pub home_feature_admin: &'static str,
    pub home_try_demo: &'static str,
    pub admin: &'static str,
    pub admin_login: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub log_in: &'static str,
    pub log_out: &'static str,
    pub logging_in: &'static str,
    pub login_failed: &'static str,
    pub login_rate_limited: &'static str,
    pub dashboard: &'static str,
    pub signed_in_as: &'static str,
    pub not_signed_in: &'static str,
    pub not_found: &'static str,
    pub server_error: &'static str,
    pub loading: &'static str,
    pub footer: &'static str,
    pub form_closed: &'static str,
    pub form_not_found: &'static str,
    pub form_not_yet_open: &'static str,
    pub form_ended: &'static str,
    pub form_full: &'static str,
    pub required_mark: &'static str,
    pub choose: &'static str,
    pub quantity: &'static str,
    pub province: &'static str,
    pub city: &'static str,
    pub district: &'static str,
    pub region_typed: &'static str,
    pub read_terms: &'static str,
    pub agree: &'static str,
    pub left: &'static str,
    pub refused: &'static str,
    pub uploading: &'static str,
    pub upload_failed: &'static str,
    pub discount_code: &'static str,
    pub discount_note: &'static str,
    pub sold_out: &'static str,
    pub total_to_pay: &'static str,
    pub submit: &'static str,
    pub submit_and_pay: &'static str,
    pub privacy_notice: &'static str,
    pub privacy_consent: &'static str,
    pub submitting: &'static str,
    pub fix_errors: &'static str,
    pub submitted: &'static str,
    pub pay_title: &'static str,
    pub amount: &'static str,
    pub time_left: &'static str,
    pub choose_method: &'static str,
    pub wechat_pay: &'static str,
    pub alipay: &'static str,
    pub alipay_qr: &'static str,
    pub scan_with_wechat: &'static str,
    pub scan_with_alipay: &'static str,
    pub go_to_alipay: &'static str,
    pub open_simulator: &'static str,
    pub wechat_qr: &'static str,
    pub alipay_web: &'static str,
    pub other_methods: &'static str,
    pub open_in_browser: &'static str,
    pub jsapi_cancelled: &'static str,
    pub wechat_login_failed: &'static str,
    pub opening_wechat: &'static str,
    pub qr_on_phone: &'static str,
    pub i_have_paid: &'static str,
    pub checking: &'static str,
    pub status_created: &'static str,
    pub status_pending: &'static str,
    pub status_paid: &'static str,
    pub status_refunding: &'static str,
    pub status_partially_refunded: &'static str,
    pub status_refunded: &'static str,
    pub status_expired: &'static str,
    pub status_closed: &'static str,
    pub status_needs_review: &'static str,
    pub paid_thanks: &'static str,
    pub view_receipt: &'static str,
    pub order_not_found: &'static str,
    pub pay_failed: &'static str,
    pub wechat_payer_limit: &'static str,
    pub receipt: &'static str,
    pub receipt_keep: &'static str,
    pub method: &'static str,
    pub transaction_id: &'static str,
    pub out_trade_no: &'static str,
    pub paid_at: &'static str,
    pub status: &'static str,
    pub answers: &'static str,
    pub refunded_amount: &'static str,
    pub print: &'static str,
    pub not_paid_yet: &'static str,
}

pub static ZH: Strings = Strings {
    app_name: "表单收款",
    switch_to_other: "English",
    home_title: "收集信息，顺便收款",
    home_lead: "创建表单，分享链接或二维码；填写者提交后用微信支付或支付宝付款，到账即时可见。",
    home_feature_forms: "表单：文本、数字、手机号、邮箱、单选、多选、日期和一个支付字段",
    home_feature_pay: "微信支付扫码、支付宝网页支付与扫码，签名回调确认到账",
    home_feature_live: "付款页面实时变为“已支付”，并生成可保存的支付凭证",
    home_feature_admin: "后台管理收款账户、订单、退款与收入统计",
    home_try_demo: "试一试示例表单",
    admin: "管理后台",
    admin_login: "管理员登录",
    email: "邮箱",
    password: "密码",
    log_in: "登录",
    log_out: "退出登录",
    logging_in: "正在登录…",
    login_failed: "邮箱或密码不正确",
    login_rate_limited: "尝试次数过多，请稍后再试",
    dashboard: "概览",
    signed_in_as: "当前登录：",
    not_signed_in: "请先登录",
    not_found: "页面不存在",
    server_error: "服务器出了点问题，请稍后再试",
    loading: "加载中…",
    footer: "自托管的表单收款系统",
    form_closed: "这个表单已关闭",
    form_not_found: "找不到这个表单",
    form_not_yet_open: "这个表单尚未开始收集",
    form_ended: "这个表单已截止",
    form_full: "名额已满",
    required_mark: "必填",
    choose: "请选择",
    quantity: "数量",
    province: "省份",
    city: "城市",
    district: "区县",
    region_typed: "省 市 区，如：广东省 深圳市 南山区",
    read_terms: "查看全文",
    agree: "我同意",
    left: "剩余",
    refused: "无法提交：请联系表单的发布者",
    uploading: "上传中…",
    upload_failed: "上传失败：文件过大或类型不符",
    discount_code: "优惠码（选填）",
    discount_note: "提交后核验，付款页显示优惠后的金额",
    sold_out: "已售罄",
    total_to_pay: "应付金额",
    submit: "提交",
    submit_and_pay: "提交并付款",
    privacy_notice: "个人信息处理说明",
    privacy_consent: "我已阅读并同意上述说明",
    submitting: "正在提交…",
    fix_errors: "请修改标出的内容后再提交",
    submitted: "提交成功",
    pay_title: "付款",
    amount: "金额",
    time_left: "剩余支付时间",
    choose_method: "选择支付方式",
    wechat_pay: "微信支付",
    alipay: "支付宝",
    alipay_qr: "支付宝扫码",
    scan_with_wechat: "请用微信扫一扫",
    scan_with_alipay: "请用支付宝扫一扫",
    go_to_alipay: "前往支付宝付款",
    open_simulator: "打开模拟付款页（开发环境）",
    wechat_qr: "微信扫码",
    alipay_web: "支付宝网页收银台",
    other_methods: "其他支付方式",
    open_in_browser: "微信内无法打开支付宝：请点击右上角 ··· 选择在浏览器打开，再用支付宝付款",
    jsapi_cancelled: "已取消支付，可以再次付款或换一种支付方式",
    wechat_login_failed: "暂时无法通过微信确认你的身份，请重试或换一种支付方式",
    opening_wechat: "正在打开微信支付…",
    qr_on_phone: "长按二维码识别；或截图后在微信“扫一扫”中从相册选择",
    i_have_paid: "我已付款",
    checking: "正在查询…",
    status_created: "待支付",
    status_pending: "待支付",
    status_paid: "已支付",
    status_refunding: "退款中",
    status_partially_refunded: "部分退款",
    status_refunded: "已退款",
    status_expired: "已过期",
    status_closed: "已关闭",
    status_needs_review: "待核查",
    paid_thanks: "付款成功，谢谢！",
    view_receipt: "查看支付凭证",
    order_not_found: "找不到这个订单",
    pay_failed: "支付服务暂时不可用，请稍后再试或换一种方式",
    wechat_payer_limit: "这个微信号在本表单的报名次数已达上限，不能再支付新的报名",
    receipt: "支付凭证",
    receipt_keep: "请保存此页面链接，可随时打开查看。",
    method: "支付方式",
    transaction_id: "支付单号",
    out_trade_no: "商户订单号",
    paid_at: "支付时间",
    status: "状态",
    answers: "填写内容",
    refunded_amount: "已退款金额",
    print: "打印",
    not_paid_yet: "尚未付款",
};

pub static EN: Strings = Strings {
    app_name: "FormPay",
    switch_to_other: "中文",
    home_title: "Collect information, and the money with it",
    home_lead: "Build a form, share its link or QR code; people fill it in and pay with WeChat Pay or Alipay, and you see it arrive at once.",
    home_feature_forms: "Forms: text, number, mobile phone, email, choices, date and one payment field",
    home_feature_pay: "WeChat Pay QR, Alipay page pay and QR, settled by signed callbacks",
    home_feature_live: "The payment page turns to “paid” by itself and gives a receipt to keep",
    home_feature_admin: "Administrators manage receiving accounts, orders, refunds and income",
    home_try_demo: "Try the demo form",
    admin: "Admin",
    admin_login: "Administrator login",
    email: "Email",
    password: "Password",
    log_in: "Log in",
    log_out: "Log out",
    logging_in: "Logging in…",
    login_failed: "Wrong email or password",
    login_rate_limited: "Too many attempts; try again later",
    dashboard: "Dashboard",
    signed_in_as: "Signed in as ",
    not_signed_in: "Please log in first",
    not_found: "Page not found",
    server_error: "Something went wrong on the server; please try again later",
    loading: "Loading…",
    footer: "Self-hosted form payments",
    form_closed: "This form is closed",
    form_not_found: "No such form",
    form_not_yet_open: "This form is not open yet",
    form_ended: "This form has ended",
    form_full: "This form is full",
    required_mark: "required",
    choose: "Choose",
    quantity: "Quantity",
    province: "Province",
    city: "City",
    district: "District",
    region_typed: "Province city district, e.g. 广东省 深圳市 南山区",
    read_terms: "Read the full text",
    agree: "I agree",
    left: "left",
    refused: "This submission cannot be accepted; please contact the form's organiser",
    uploading: "Uploading…",
    upload_failed: "Upload failed: the file is too large or of the wrong type",
    discount_code: "Discount code (optional)",
    discount_note: "Checked when you submit; the payment page shows the discounted amount",
    sold_out: "sold out",
    total_to_pay: "Total to pay",
    submit: "Submit",
    submit_and_pay: "Submit and pay",
    privacy_notice: "How your personal information is used",
    privacy_consent: "I have read and agree to the notice above",
    submitting: "Submitting…",
    fix_errors: "Please correct the marked answers",
    submitted: "Submitted",
    pay_title: "Payment",
    amount: "Amount",
    time_left: "Time left to pay",
    choose_method: "Choose how to pay",
    wechat_pay: "WeChat Pay",
    alipay: "Alipay",
    alipay_qr: "Alipay QR code",
    scan_with_wechat: "Scan with WeChat",
    scan_with_alipay: "Scan with Alipay",
    go_to_alipay: "Continue to Alipay",
    open_simulator: "Open the simulator's payer page (development)",
    wechat_qr: "WeChat QR code",
    alipay_web: "Alipay web cashier",
    other_methods: "Other ways to pay",
    open_in_browser: "Alipay does not open inside WeChat: tap ··· at the top right, choose Open in Browser, then pay with Alipay (点击右上角 ··· 选择在浏览器打开)",
    jsapi_cancelled: "Payment cancelled; pay again or choose another way",
    wechat_login_failed: "WeChat could not confirm who you are; try again or choose another way to pay",
    opening_wechat: "Opening WeChat Pay…",
    qr_on_phone: "Press and hold the code to recognise it, or save it and scan it from the album in WeChat",
    i_have_paid: "I have paid",
    checking: "Checking…",
    status_created: "Waiting for payment",
    status_pending: "Waiting for payment",
    status_paid: "Paid",
    status_refunding: "Refunding",
    status_partially_refunded: "Partially refunded",
    status_refunded: "Refunded",
    status_expired: "Expired",
    status_closed: "Closed",
    status_needs_review: "Needs review",
    paid_thanks: "Payment received. Thank you!",
    view_receipt: "View the receipt",
    order_not_found: "No such order",
    pay_failed: "The payment service is unavailable; try again or use another method",
    wechat_payer_limit: "This WeChat account has reached the form's limit per person; it cannot pay for another sign-up",
    receipt: "Receipt",
    receipt_keep: "Keep this page's link to open it again at any time.",
    method: "Method",
    transaction_id: "Transaction id",
    out_trade_no: "Merchant order number",
    paid_at: "Paid at",
    status: "Status",
    answers: "Answers",
    refunded_amount: "Refunded",
    print: "Print",
    not_paid_yet: "Not paid yet",
};

/// The language signal shared by every component. An island hydrated on its
/// own has no `App` above it: it reads the language from the cookie, as the
/// server did, and shares it with the components below it.
pub fn use_lang() -> RwSignal<Lang> {
    use_context::<RwSignal<Lang>>().unwrap_or_else(|| {
        let lang = RwSignal::new(initial_lang());
        provide_context(lang);
        lang
    })
}

/// Loads the page again (the browser's reload), e.g. to show it in another
/// language where only its islands are hydrated.
pub fn reload() {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// The language the request (server) or the document (browser) asks for. Both
/// read the same cookie, so hydration sees the same text the server rendered.
pub fn initial_lang() -> Lang {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .headers
                    .get(http::header::COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .map(Lang::from_cookie_header)
            })
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        use wasm_bindgen::JsCast;
        web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
            .and_then(|d| d.cookie().ok())
            .map(|c| Lang::from_cookie_header(&c))
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        Lang::Zh
    }
}

/// Remembers the choice for the next page load.
pub fn store_lang(lang: Lang) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(doc) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        {
            let v = if lang == Lang::En { "en" } else { "zh" };
            let _ = doc.set_cookie(&format!(
                "{LANG_COOKIE}={v}; Path=/; Max-Age=31536000; SameSite=Lax"
            ));
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = lang;
}

/// The text of a validation error, for the payer.
pub fn answer_error_text(lang: Lang, e: &crate::domain::form::AnswerError) -> String {
    use crate::domain::form::AnswerError as E;
    let zh = lang == Lang::Zh;
    match e {
        E::Required => if zh { "必填" } else { "Required" }.into(),
        E::WrongType => if zh {
            "格式不正确"
        } else {
            "Wrong kind of value"
        }
        .into(),
        E::TooLong { max } => {
            if zh {
                format!("最多 {max} 个字")
            } else {
                format!("At most {max} characters")
            }
        }
        E::NotANumber => if zh {
            "请输入整数"
        } else {
            "Enter a whole number"
        }
        .into(),
        E::OutOfRange => if zh {
            "超出允许的范围"
        } else {
            "Outside the allowed range"
        }
        .into(),
        E::BadPhone => if zh {
            "请输入有效的手机号"
        } else {
            "Enter a valid mainland mobile number"
        }
        .into(),
        E::BadEmail => if zh {
            "请输入有效的邮箱"
        } else {
            "Enter a valid email address"
        }
        .into(),
        E::BadDate => if zh {
            "请输入有效的日期"
        } else {
            "Enter a valid date"
        }
        .into(),
        E::BadTime => if zh {
            "请输入有效的时间，如 09:30"
        } else {
            "Enter a valid time such as 09:30"
        }
        .into(),
        E::BadIdCard => if zh {
            "请输入有效的 18 位身份证号"
        } else {
            "Enter a valid 18-character ID card number"
        }
        .into(),
        E::BadRegion => if zh {
            "请选择省、市、区"
        } else {
            "Choose a province, city and district"
        }
        .into(),
        E::SoldOut => if zh {
            "所选数量超过剩余库存"
        } else {
            "Not that many left"
        }
        .into(),
        E::PayerLimit => if zh {
            "该手机号或邮箱的报名次数已达上限"
        } else {
            "This phone number or email has reached the form's limit"
        }
        .into(),
        E::BadDiscount => if zh {
            "优惠码无效、已过期或已用完"
        } else {
            "This discount code is unknown, expired or used up"
        }
        .into(),
        E::DailyLimit => if zh {
            "该手机号今天的提交次数已达上限"
        } else {
            "This phone number has made today's submissions"
        }
        .into(),
        E::DailyAmount => if zh {
            "该手机号今天的付款金额已达上限"
        } else {
            "This phone number's payments reached today's limit"
        }
        .into(),
        E::BadUpload => if zh {
            "请重新上传文件"
        } else {
            "Upload the files again"
        }
        .into(),
        E::UnknownOption => if zh {
            "请选择列表中的选项"
        } else {
            "Choose one of the options"
        }
        .into(),
        E::BadAmount => if zh {
            "请输入金额，如 12.34（最多两位小数）"
        } else {
            "Enter an amount such as 12.34 (two decimals at most)"
        }
        .into(),
        E::BadQuantity => if zh {
            "数量不正确"
        } else {
            "Wrong quantity"
        }
        .into(),
        E::UnknownField => if zh {
            "表单中没有这一项"
        } else {
            "This form has no such field"
        }
        .into(),
    }
}

impl Strings {
    pub fn order_status(&self, s: crate::domain::OrderStatus) -> &'static str {
        use crate::domain::OrderStatus as S;
        match s {
            S::Created => self.status_created,
            S::Pending => self.status_pending,
            S::Paid => self.status_paid,
            S::Refunding => self.status_refunding,
            S::PartiallyRefunded => self.status_partially_refunded,
            S::Refunded => self.status_refunded,
            S::Expired => self.status_expired,
            S::Closed => self.status_closed,
            S::NeedsReview => self.status_needs_review,
        }
    }

    pub fn channel(&self, c: crate::domain::Channel) -> &'static str {
        use crate::domain::Channel as C;
        match c {
            C::WechatNative | C::WechatJsapi | C::WechatH5 => self.wechat_pay,
            C::AlipayPage | C::AlipayWap => self.alipay,
            C::AlipayQr => self.alipay_qr,
        }
    }

    /// A channel among the other ways to pay, told apart from the browser's own.
    pub fn channel_other(&self, c: crate::domain::Channel) -> &'static str {
        use crate::domain::Channel as C;
        match c {
            C::WechatNative => self.wechat_qr,
            C::AlipayPage => self.alipay_web,
            other => self.channel(other),
        }
    }

    /// A channel with the provider's name for its mode, for administrators.
    pub fn channel_with_mode(&self, c: crate::domain::Channel) -> String {
        format!("{} · {}", self.channel(c), c.mode())
    }

    pub fn availability(&self, a: crate::domain::form::Availability) -> &'static str {
        use crate::domain::form::Availability as A;
        match a {
            A::Open => "",
            A::NotPublished => self.form_not_found,
            A::Closed => self.form_closed,
            A::NotYetOpen => self.form_not_yet_open,
            A::Ended => self.form_ended,
            A::Full => self.form_full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_language_cookie() {
        assert_eq!(Lang::from_cookie_header("a=b; lang=en"), Lang::En);
        assert_eq!(Lang::from_cookie_header("lang=zh"), Lang::Zh);
        assert_eq!(Lang::from_cookie_header("xlang=en"), Lang::Zh);
        assert_eq!(Lang::from_cookie_header(""), Lang::Zh);
    }
}
