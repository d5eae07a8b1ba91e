//! Where the payer's page runs, from its user agent, and so which ways of
//! paying fit: inside WeChat only WeChat's own sheet (JSAPI) works and
//! Alipay pages are blocked; inside the Alipay app its own cashier (WAP); in
//! other phone browsers WeChat H5 and Alipay WAP; on a desktop QR codes and
//! Alipay's web cashier. Decided on the server, so the first paint is right.

use crate::Channel;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayerBrowser {
    /// WeChat's built-in browser (`MicroMessenger`).
    Wechat,
    /// The Alipay app (`AlipayClient`).
    Alipay,
    /// Any other phone or tablet browser.
    Phone,
    Desktop,
}

impl PayerBrowser {
    pub fn from_user_agent(ua: &str) -> PayerBrowser {
        if ua.contains("MicroMessenger") {
            PayerBrowser::Wechat
        } else if ua.contains("AlipayClient") {
            PayerBrowser::Alipay
        } else if ["iPhone", "iPad", "iPod", "Android", "Mobile", "HarmonyOS"]
            .iter()
            .any(|m| ua.contains(m))
        {
            PayerBrowser::Phone
        } else {
            PayerBrowser::Desktop
        }
    }

    /// Whether a channel can be paid in this browser at all.
    pub fn fits(self, c: Channel) -> bool {
        use Channel::*;
        match self {
            // Alipay is listed inside WeChat, with the "open in the browser" guide.
            PayerBrowser::Wechat => matches!(c, WechatJsapi | AlipayWap),
            PayerBrowser::Alipay => matches!(c, AlipayWap),
            PayerBrowser::Phone => matches!(c, WechatH5 | AlipayWap),
            PayerBrowser::Desktop => matches!(c, WechatNative | AlipayPage | AlipayQr),
        }
    }

    /// The channels offered first, best first, out of those the order's
    /// account can serve; when the browser's own ways are not available
    /// (WeChat H5 not enabled), the QR code is the fallback.
    pub fn offer(self, available: &[Channel]) -> Vec<Channel> {
        let order: &[Channel] = match self {
            PayerBrowser::Wechat => &[Channel::WechatJsapi, Channel::AlipayWap],
            PayerBrowser::Alipay => &[Channel::AlipayWap],
            PayerBrowser::Phone => &[Channel::WechatH5, Channel::AlipayWap],
            PayerBrowser::Desktop => &[
                Channel::WechatNative,
                Channel::AlipayPage,
                Channel::AlipayQr,
            ],
        };
        let mut offer: Vec<Channel> = order
            .iter()
            .copied()
            .filter(|c| available.contains(c) && self.fits(*c))
            .collect();
        // On a phone, a provider with none of its fitting channels: its QR
        // code, which WeChat recognises with a long press and a phone can
        // save and scan from the album.
        // Inside the Alipay app without WAP: Alipay's cashier opens there too.
        if self == PayerBrowser::Alipay {
            if offer.is_empty() && available.contains(&Channel::AlipayPage) {
                offer.push(Channel::AlipayPage);
            }
            return offer;
        }
        if !matches!(self, PayerBrowser::Phone | PayerBrowser::Wechat) {
            return offer;
        }
        for (provider_fits, qr) in [
            (
                offer
                    .iter()
                    .any(|c| c.provider() == crate::Provider::Wechat),
                Channel::WechatNative,
            ),
            (
                offer
                    .iter()
                    .any(|c| c.provider() == crate::Provider::Alipay),
                Channel::AlipayQr,
            ),
        ] {
            if !provider_fits && available.contains(&qr) && !offer.contains(&qr) {
                offer.push(qr);
            }
        }
        offer
    }

    /// The other channels the payer may still choose ("other ways to pay").
    pub fn others(self, available: &[Channel]) -> Vec<Channel> {
        let offer = self.offer(available);
        available
            .iter()
            .copied()
            .filter(|c| !offer.contains(c))
            .collect()
    }

    /// Alipay pages do not open inside WeChat: the payer is told to open the
    /// page in the phone's browser instead.
    pub fn blocks(self, c: Channel) -> bool {
        self == PayerBrowser::Wechat && c.provider() == crate::Provider::Alipay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WECHAT_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN";
    const ALIPAY_ANDROID: &str = "Mozilla/5.0 (Linux; Android 13; V2203A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 Mobile Safari/537.36 AlipayChannelId/5136 NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:393|0|2.75) AliApp(AP/10.5.36.8100) AlipayClient/10.5.36.8100 Language/zh-Hans";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    const CHROME_DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

    #[test]
    fn user_agents_name_their_browser() {
        assert_eq!(
            PayerBrowser::from_user_agent(WECHAT_IOS),
            PayerBrowser::Wechat
        );
        assert_eq!(
            PayerBrowser::from_user_agent(ALIPAY_ANDROID),
            PayerBrowser::Alipay
        );
        assert_eq!(
            PayerBrowser::from_user_agent(SAFARI_IPHONE),
            PayerBrowser::Phone
        );
        assert_eq!(
            PayerBrowser::from_user_agent(CHROME_DESKTOP),
            PayerBrowser::Desktop
        );
        assert_eq!(PayerBrowser::from_user_agent(""), PayerBrowser::Desktop);
    }

    #[test]
    fn each_browser_is_offered_what_works_there() {
        let all = Channel::ALL;
        assert_eq!(
            PayerBrowser::Wechat.offer(&all),
            [Channel::WechatJsapi, Channel::AlipayWap]
        );
        assert_eq!(PayerBrowser::Alipay.offer(&all), [Channel::AlipayWap]);
        assert_eq!(
            PayerBrowser::Phone.offer(&all),
            [Channel::WechatH5, Channel::AlipayWap]
        );
        assert_eq!(
            PayerBrowser::Desktop.offer(&all),
            [
                Channel::WechatNative,
                Channel::AlipayPage,
                Channel::AlipayQr
            ]
        );
        // Everything else stays reachable.
        let mut both = PayerBrowser::Phone.offer(&all);
        both.extend(PayerBrowser::Phone.others(&all));
        assert_eq!(both.len(), all.len());
        assert!(PayerBrowser::Wechat.blocks(Channel::AlipayWap));
        assert!(!PayerBrowser::Phone.blocks(Channel::AlipayWap));
    }

    #[test]
    fn without_h5_a_phone_falls_back_to_the_qr_code() {
        let available = [
            Channel::WechatNative,
            Channel::AlipayPage,
            Channel::AlipayQr,
            Channel::AlipayWap,
        ];
        assert_eq!(
            PayerBrowser::Phone.offer(&available),
            [Channel::AlipayWap, Channel::WechatNative]
        );
        // Inside WeChat without JSAPI (no app secret): the QR code too.
        assert_eq!(
            PayerBrowser::Wechat.offer(&available),
            [Channel::AlipayWap, Channel::WechatNative]
        );
    }

    #[test]
    fn without_wap_phones_fall_back_to_alipays_qr_code_or_cashier() {
        let available = [
            Channel::WechatNative,
            Channel::WechatH5,
            Channel::AlipayPage,
            Channel::AlipayQr,
        ];
        assert_eq!(
            PayerBrowser::Phone.offer(&available),
            [Channel::WechatH5, Channel::AlipayQr]
        );
        assert_eq!(
            PayerBrowser::Alipay.offer(&available),
            [Channel::AlipayPage]
        );
    }
}
