//! The payer's receipt mail of a form: its template, with `{name}` tokens
//! filled in. The same code renders the editor's preview (in the browser) and
//! the mail (on the server).

/// The subject when the form sets none.
pub const DEFAULT_RECEIPT_SUBJECT: &str = "付款成功：{form} · Payment received: {form}";

/// The body when the form sets none.
pub const DEFAULT_RECEIPT_BODY: &str = "您好，

我们已收到您为「{form}」支付的 {amount}。
订单号：{out_trade_no}
付款时间：{paid_at}（北京时间）
收据：{receipt_url}

Hello, we received your payment of {amount} for \"{form}\".
Order {out_trade_no}, paid {paid_at} (Beijing time).
Receipt: {receipt_url}
";

/// The tokens a template may use, with an example of each (the preview).
pub const TEMPLATE_TOKENS: [(&str, &str); 5] = [
    ("form", "校友会年会报名"),
    ("amount", "¥88.00"),
    ("out_trade_no", "FP0017964101389279799"),
    ("paid_at", "2026-12-04 18:30:00"),
    ("receipt_url", "https://pay.example.com/r/3f9c…"),
];

/// The longest subject and body a form may set.
pub const MAX_SUBJECT: usize = 200;
pub const MAX_BODY: usize = 5_000;

/// Fills `{token}`s from `vars` (and `{answer:key}` from `answers`); an
/// unknown token is left as it is.
pub fn render_template(
    template: &str,
    vars: &[(&str, &str)],
    answer: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let token = &after[..end];
        let value = match token.strip_prefix("answer:") {
            Some(key) => answer(key),
            None => vars
                .iter()
                .find(|(k, _)| *k == token)
                .map(|(_, v)| (*v).to_owned()),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => {
                out.push('{');
                out.push_str(token);
                out.push('}');
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A subject is one line: line breaks (a header injection) become spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_filled_and_unknown_ones_kept() {
        let none = |_: &str| None;
        let name = |k: &str| (k == "name").then(|| "张三".to_owned());
        assert_eq!(
            render_template(
                "{form}: {amount} {x} {",
                &[("form", "年会"), ("amount", "¥1.00")],
                &none
            ),
            "年会: ¥1.00 {x} {"
        );
        assert_eq!(
            render_template("Dear {answer:name},", &[], &name),
            "Dear 张三,"
        );
        assert_eq!(render_template("{answer:age}", &[], &name), "{answer:age}");
        assert!(render_template(DEFAULT_RECEIPT_BODY, &TEMPLATE_TOKENS, &none).contains("¥88.00"));
        assert_eq!(one_line("a\r\nBcc: x@y"), "a  Bcc: x@y");
    }
}
