//! Times as the providers write them (Beijing time, UTC+8, no daylight saving).

/// RFC 3339 in Beijing time, as WeChat Pay's `time_expire` wants it.
pub fn beijing_rfc3339(ms: i64) -> String {
    use chrono::{FixedOffset, TimeZone};
    let tz =
        FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"));
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+08:00").to_string())
        .unwrap_or_default()
}
