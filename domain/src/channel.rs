//! How a payer pays: the provider and its mode.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// WeChat Pay Native: a QR code scanned in the WeChat app.
    WechatNative,
    /// Alipay web page pay: the browser goes to Alipay's cashier.
    AlipayPage,
    /// Alipay pre-created order: a QR code scanned in the Alipay app.
    AlipayQr,
    /// WeChat Pay JSAPI: WeChat's own pay sheet, inside WeChat.
    WechatJsapi,
    /// WeChat Pay H5: a phone browser opens WeChat to pay.
    WechatH5,
    /// Alipay WAP (phone website) pay: Alipay's phone cashier or app.
    AlipayWap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Wechat,
    Alipay,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::WechatNative,
        Channel::AlipayPage,
        Channel::AlipayQr,
        Channel::WechatJsapi,
        Channel::WechatH5,
        Channel::AlipayWap,
    ];

    pub fn provider(self) -> Provider {
        match self {
            Channel::WechatNative | Channel::WechatJsapi | Channel::WechatH5 => Provider::Wechat,
            Channel::AlipayPage | Channel::AlipayQr | Channel::AlipayWap => Provider::Alipay,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WechatNative => "wechat_native",
            Channel::AlipayPage => "alipay_page",
            Channel::AlipayQr => "alipay_qr",
            Channel::WechatJsapi => "wechat_jsapi",
            Channel::WechatH5 => "wechat_h5",
            Channel::AlipayWap => "alipay_wap",
        }
    }

    /// The provider's name for the mode, as administrators read it.
    pub fn mode(self) -> &'static str {
        match self {
            Channel::WechatNative => "Native",
            Channel::WechatJsapi => "JSAPI",
            Channel::WechatH5 => "H5",
            Channel::AlipayPage => "page",
            Channel::AlipayQr => "QR",
            Channel::AlipayWap => "WAP",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The payer's browser is sent to the provider (a cashier page) rather
    /// than shown a QR code.
    pub fn redirects(self) -> bool {
        matches!(
            self,
            Channel::AlipayPage | Channel::AlipayWap | Channel::WechatH5
        )
    }

    /// The provider order is made only when the payer opens the signed
    /// cashier link, so a provider that does not know it yet has not closed
    /// it: the link could still create it until it expires.
    pub fn made_when_opened(self) -> bool {
        matches!(self, Channel::AlipayPage | Channel::AlipayWap)
    }
}

impl Provider {
    pub const ALL: [Provider; 2] = [Provider::Wechat, Provider::Alipay];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechat => "wechat",
            Provider::Alipay => "alipay",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Channel::parse("paypal"), None);
        assert_eq!(Channel::AlipayQr.provider(), Provider::Alipay);
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
        }
        assert!(Channel::AlipayPage.redirects() && !Channel::AlipayQr.redirects());
        assert!(
            Channel::AlipayPage.made_when_opened() && !Channel::WechatNative.made_when_opened()
        );
    }
}
