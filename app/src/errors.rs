//! The one vocabulary of server-function failures. A failure says what could
//! not be done and what the user can do about it, in both languages, with a
//! short reference; the cause goes to the log under the same reference and
//! never to the browser (no SQL, no key, no provider's text).

use std::fmt;

/// What a server function could not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Something could not be read: "the orders", "the form".
    Read(&'static str),
    /// Something could not be saved or changed.
    Save(&'static str),
    /// The caller is not signed in (or the session ended).
    SignIn,
    /// The caller's role does not allow this.
    Forbidden,
    /// The request named something unknown (a status, an action, a channel).
    Unknown(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Read(what) => write!(
                f,
                "暂时无法读取{}，请稍后再试 · {what} cannot be read right now; try again in a moment",
                zh_of(what)
            ),
            Failure::Save(what) => write!(
                f,
                "暂时无法保存{}，请稍后再试 · {what} cannot be saved right now; try again in a moment",
                zh_of(what)
            ),
            Failure::SignIn => write!(f, "请先登录 · sign in first"),
            Failure::Forbidden => write!(
                f,
                "你的角色无权执行此操作 · your role does not allow this"
            ),
            Failure::Unknown(what) => write!(f, "无法识别的{} · unknown {what}", zh_of(what)),
        }
    }
}

/// The Chinese name of what failed (the English one is the key).
fn zh_of(what: &str) -> &'static str {
    match what {
        "the orders" => "订单",
        "the order" => "订单",
        "the form" => "表单",
        "the forms" => "表单",
        "the submission" => "提交",
        "the submissions" => "提交记录",
        "the statistics" => "统计",
        "the audit log" => "操作日志",
        "the overview" => "概览",
        "the receipt" => "收据",
        "the refund" => "退款",
        "the action" => "操作",
        "status" => "状态",
        "action" => "操作",
        "channel" => "支付方式",
        _ => "数据",
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::Failure;
    use leptos::prelude::ServerFnError;

    impl From<Failure> for ServerFnError {
        fn from(f: Failure) -> ServerFnError {
            ServerFnError::new(f.to_string())
        }
    }

    impl Failure {
        /// Logs `cause` under a fresh reference and gives the user the
        /// failure with that reference (to quote to the operator).
        pub fn because(self, cause: impl std::fmt::Debug) -> ServerFnError {
            let reference = reference();
            tracing::error!(error = ?cause, reference = %reference, "{self:?}");
            ServerFnError::new(format!("{self} (ref {reference})"))
        }

        /// [`Failure::because`] as a `map_err` argument.
        pub fn log<E: std::fmt::Debug>(self) -> impl Fn(E) -> ServerFnError + Copy {
            move |e| self.because(e)
        }
    }

    /// Eight hex digits: enough to find one line in a day of logs.
    fn reference() -> String {
        let token = formpay_core::random_token();
        token.as_str().chars().take(8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Failure;

    #[test]
    fn failures_speak_both_languages() {
        let text = Failure::Read("the orders").to_string();
        assert!(text.contains("订单") && text.contains("the orders cannot be read"));
        assert!(Failure::Unknown("channel").to_string().contains("支付方式"));
    }
}
