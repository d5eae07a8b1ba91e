//! QR codes as inline SVG, drawn by the `qrcode` crate. The payer's code
//! is drawn on the server only (`Scan`), so the payers' bundle carries no QR
//! encoder (issue 14); the administrators' pages draw theirs in the browser.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A code for the payer to scan: what it says, and its picture drawn on the
/// server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scan {
    pub url: String,
    /// The SVG markup (empty for content too long to encode).
    pub svg: String,
}

#[cfg(feature = "ssr")]
impl Scan {
    pub fn new(url: String) -> Scan {
        let svg = qr_svg(&url).unwrap_or_default();
        Scan { url, svg }
    }
}

/// A code drawn on the server (`Scan::svg`).
#[component]
pub fn QrPicture(
    svg: String,
    #[prop(into, optional)] testid: String,
    /// What the code is for, read instead of the picture (the amount and what to do).
    #[prop(into)]
    label: String,
) -> impl IntoView {
    view! { <div class="qr" role="img" aria-label=label data-testid=testid inner_html=svg></div> }
}

/// The SVG markup of a QR code, or `None` for content too long to encode.
pub fn qr_svg(data: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(qrcode::render::svg::Color("#111111"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

#[component]
pub fn QrCode(
    #[prop(into)] data: Signal<String>,
    #[prop(into, optional)] testid: String,
    /// What the code is for, read instead of the picture (the amount and what to do).
    #[prop(into)]
    label: String,
) -> impl IntoView {
    view! { <div class="qr" role="img" aria-label=label data-testid=testid inner_html=move || qr_svg(&data.get()).unwrap_or_default()></div> }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_a_code_url_as_svg() {
        let svg = super::qr_svg("weixin://wxpay/bizpayurl?pr=abc123").expect("svg");
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
        assert!(svg.contains("<path") || svg.contains("<rect"));
        assert!(super::qr_svg(&"x".repeat(5000)).is_none());
    }
}
