//! Every piece of interface text, in one place. Chinese (zh-CN) is the default;
//! English is one click away. Adding a string means adding it to both tables,
//! which the compiler enforces.

use leptos::prelude::*;

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
};

/// The language signal shared by every component.
pub fn use_lang() -> RwSignal<Lang> {
    use_context::<RwSignal<Lang>>().unwrap_or_else(|| RwSignal::new(Lang::Zh))
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
