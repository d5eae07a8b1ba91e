//! The simulator's development keys and identifiers: public (they are in
//! this repository), so anyone can sign with them. Production code reads them
//! only to refuse them; the simulator and the tests sign with them. They live
//! here, below both, so that production code never imports the simulator.

pub const WECHAT_MERCHANT_KEY: &str = include_str!("../dev-keys/wechat-merchant.key.pem");
pub const WECHAT_MERCHANT_PUB: &str = include_str!("../dev-keys/wechat-merchant.pub.pem");
pub const WECHAT_MERCHANT_SERIAL: &str = "3775B6A45ACD39E7";
pub const WECHAT_PLATFORM_KEY: &str = include_str!("../dev-keys/wechat-platform.key.pem");
pub const WECHAT_PLATFORM_PUB: &str = include_str!("../dev-keys/wechat-platform.pub.pem");
pub const WECHAT_PLATFORM_CERT: &str = include_str!("../dev-keys/wechat-platform.cert.pem");
pub const WECHAT_PLATFORM_CERT_SERIAL: &str = "5F3A1C9B7E2D4401";
pub const WECHAT_PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0119000000012026000000000000";
pub const WECHAT_APIV3_KEY: &str = "formpaySimulatorApiV3Key32bytes!";
pub const WECHAT_MCH_ID: &str = "1900000001";
/// The legacy API v2 key (32 characters).
pub const WECHAT_V2_KEY: &str = "formpaySimulatorV2Key0123456789a";
pub const WECHAT_APP_ID: &str = "wx00simulator0001";
/// The simulated official account's AppSecret (JSAPI's OAuth).
pub const WECHAT_APP_SECRET: &str = "formpaySimulatorAppSecret0000001";
pub const ALIPAY_APP_KEY: &str = include_str!("../dev-keys/alipay-app.key.pem");
pub const ALIPAY_APP_PUB: &str = include_str!("../dev-keys/alipay-app.pub.pem");
pub const ALIPAY_PLATFORM_KEY: &str = include_str!("../dev-keys/alipay-platform.key.pem");
pub const ALIPAY_PLATFORM_PUB: &str = include_str!("../dev-keys/alipay-platform.pub.pem");
pub const ALIPAY_APP_ID: &str = "2021000000000001";
pub const ALIPAY_SELLER_ID: &str = "2088000000000001";

/// Whether a configured key is one of the public development keys.
pub fn is_development_key(text: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<String>();
    let t = norm(text);
    [
        WECHAT_MERCHANT_KEY,
        WECHAT_MERCHANT_PUB,
        WECHAT_PLATFORM_KEY,
        WECHAT_PLATFORM_PUB,
        ALIPAY_APP_KEY,
        ALIPAY_APP_PUB,
        ALIPAY_PLATFORM_KEY,
        ALIPAY_PLATFORM_PUB,
    ]
    .iter()
    .any(|k| {
        let k = norm(k);
        let body = |s: &str| {
            s.replace("-----BEGINPRIVATEKEY-----", "")
                .replace("-----ENDPRIVATEKEY-----", "")
                .replace("-----BEGINPUBLICKEY-----", "")
                .replace("-----ENDPUBLICKEY-----", "")
        };
        t == k || body(&t) == body(&k)
    }) || text.contains(WECHAT_APIV3_KEY)
        || text.contains(WECHAT_V2_KEY)
        || text.contains(WECHAT_APP_SECRET)
}
