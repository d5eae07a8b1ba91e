//! WeChat Pay's daily trade bill (`GET /v3/bill/tradebill`, `bill_type=ALL`):
//! a header line, one line per payment or refund with every cell prefixed by
//! a backtick, then a summary header and its line. Read line by line (a
//! bill of 100,000 lines is never held as text), each line bounded, and
//! checked against the summary: a truncated or altered file is refused.

use formpay_core::provider::{Bill, BillKind, BillLine, ProviderError};
use std::io::BufRead;

/// The detail header of an `ALL` bill, as WeChat writes it.
pub const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
/// The summary header of an `ALL` bill.
pub const SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// The longest line read (a product name and the attach field are bounded
/// by WeChat; anything longer is not a bill).
const MAX_LINE: usize = 16 * 1024;

/// The most text a bill may decompress to (a gzip bomb stops here).
const MAX_BILL_TEXT: u64 = 1024 * 1024 * 1024;

/// Reads through, hashing what is read (SHA-1, as WeChat names the file).
struct Hashing<R> {
    inner: R,
    sha1: ring::digest::Context,
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha1.update(&buf[..n]);
        Ok(n)
    }
}

/// The bill in `bytes` (gzip or plain), read line by line while its SHA-1
/// (of the text) is taken; refused unless the SHA-1 is `hash`.
pub fn read_file(bytes: &[u8], hash: &str) -> Result<Bill, ProviderError> {
    read_hashed(bytes, hash, |r| parse(r))
}

/// A bill file of WeChat's (gzip or plain) read by `parse` line by line
/// while its SHA-1 (of the text) is taken; refused unless it is `hash`.
pub fn read_hashed<T>(
    bytes: &[u8],
    hash: &str,
    parse: impl FnOnce(&mut dyn BufRead) -> Result<T, BillError>,
) -> Result<T, ProviderError> {
    use std::io::Read;
    let text: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut reader = Hashing {
        inner: text.take(MAX_BILL_TEXT),
        sha1: ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
    };
    let parsed = parse(&mut std::io::BufReader::new(&mut reader));
    // Whatever the parser left unread counts in the hash too.
    std::io::copy(&mut reader, &mut std::io::sink())
        .map_err(|e| ProviderError::Malformed(format!("the bill cannot be read: {e}")))?;
    let digest = hex::encode(reader.sha1.finish());
    if !digest.eq_ignore_ascii_case(hash.trim()) {
        return Err(ProviderError::Verification(
            "the bill's SHA-1 is not the one WeChat announced".into(),
        ));
    }
    parsed.map_err(|e| ProviderError::Malformed(e.to_string()))
}

/// Why a bill file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    #[error("the bill cannot be read: {0}")]
    Io(String),
    #[error("the bill does not start with the provider's header")]
    Header,
    #[error("line {0} of the bill is malformed: {1}")]
    Line(usize, String),
    #[error("the bill has no summary (truncated?)")]
    NoSummary,
    #[error("the bill does not add up to its summary: {0}")]
    Totals(String),
}

/// Cells of a data line: each starts with a backtick.
fn cells(line: &str) -> Option<Vec<&str>> {
    line.split(',')
        .map(|c| c.strip_prefix('`'))
        .collect::<Option<Vec<_>>>()
}

/// Fen as the bills write yuan: two decimals, a minus sign when negative.
pub fn fen_to_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// An amount in yuan with up to five decimals, in fen rounded half away
/// from zero (fees are written `0.32000`, `-0.27000`).
pub fn yuan_to_fen(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 5
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // In units of 1e-5 yuan (a thousandth of a fen).
    let mut units: i64 = whole.parse::<i64>().ok()?.checked_mul(100_000)?;
    let padded = format!("{frac:0<5}");
    units = units.checked_add(padded.parse::<i64>().ok()?)?;
    let fen = (units + 500) / 1000;
    Some(if neg { -fen } else { fen })
}

fn line_error(n: usize, why: &str) -> BillError {
    BillError::Line(n, why.to_owned())
}

/// Reads one line into `buf` (without its line ending), refusing one longer
/// than [`MAX_LINE`]. False at the end.
pub(crate) fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> Result<bool, BillError> {
    buf.clear();
    loop {
        let available = r.fill_buf().map_err(|e| BillError::Io(e.to_string()))?;
        if available.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take > MAX_LINE {
            return Err(BillError::Io("a line is too long".into()));
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            return Ok(true);
        }
    }
}

/// Parses an `ALL` trade bill (decompressed, UTF-8).
pub fn parse<R: BufRead>(mut r: R) -> Result<Bill, BillError> {
    let mut buf = Vec::new();
    if !read_line(&mut r, &mut buf)? {
        return Err(BillError::Header);
    }
    let header = std::str::from_utf8(&buf).map_err(|_| BillError::Header)?;
    if header.trim_start_matches('\u{feff}') != HEADER {
        return Err(BillError::Header);
    }
    let mut bill = Bill::default();
    let (mut paid, mut refunded, mut fees) = (0i64, 0i64, 0i64);
    let mut n = 1;
    let summary = loop {
        n += 1;
        if !read_line(&mut r, &mut buf)? {
            return Err(BillError::NoSummary);
        }
        let text = std::str::from_utf8(&buf).map_err(|_| line_error(n, "not UTF-8"))?;
        if text == SUMMARY_HEADER {
            n += 1;
            if !read_line(&mut r, &mut buf)? {
                return Err(BillError::NoSummary);
            }
            let text = std::str::from_utf8(&buf).map_err(|_| line_error(n, "not UTF-8"))?;
            break cells(text)
                .filter(|c| c.len() == 7)
                .ok_or_else(|| line_error(n, "a summary of 7 cells"))?
                .iter()
                .map(|c| (*c).to_owned())
                .collect::<Vec<_>>();
        }
        let c = cells(text).ok_or_else(|| line_error(n, "a cell without its backtick"))?;
        if c.len() != 27 {
            return Err(line_error(n, "not 27 cells"));
        }
        let amount = |i: usize| {
            yuan_to_fen(c[i])
                .filter(|v| *v >= 0 || i == 22)
                .ok_or_else(|| line_error(n, "an amount"))
        };
        let kind = match c[9] {
            "SUCCESS" => BillKind::Payment,
            "REFUND" => BillKind::Refund,
            // A revoked card-code payment (MICROPAY): not one of ours.
            "REVOKED" => continue,
            _ => return Err(line_error(n, "an unknown trade state")),
        };
        let text_cell = |i: usize| Some(c[i].to_owned()).filter(|v| !v.is_empty() && v != "0");
        let (out_trade_no, transaction_id) = (c[6].to_owned(), c[5].to_owned());
        if out_trade_no.is_empty() || transaction_id.is_empty() || c[0].len() != 19 {
            return Err(line_error(n, "no order number, transaction or time"));
        }
        let fee_fen = amount(22)?;
        // A payment's amount is what is settled; a refund's, what was refunded.
        let (amount_fen, out_refund_no, refund_id) = match kind {
            BillKind::Payment => (amount(12)?, None, None),
            BillKind::Refund => (
                amount(16)?,
                Some(text_cell(15).ok_or_else(|| line_error(n, "a refund without its number"))?),
                text_cell(14),
            ),
        };
        let line = BillLine {
            kind,
            at: c[0].to_owned(),
            app_id: c[1].to_owned(),
            merchant_id: c[2].to_owned(),
            transaction_id,
            out_trade_no,
            out_refund_no,
            refund_id,
            amount_fen,
            fee_fen,
        };
        match kind {
            BillKind::Payment => paid += line.amount_fen,
            BillKind::Refund => refunded += line.amount_fen,
        }
        fees += line.fee_fen;
        bill.lines.push(line);
    };
    // The summary counts every line (payments and refunds) and totals them.
    let total =
        |i: usize| yuan_to_fen(&summary[i]).ok_or_else(|| BillError::Totals(format!("cell {i}")));
    let count: usize = summary[0]
        .parse()
        .map_err(|_| BillError::Totals("the count".into()))?;
    if count != bill.lines.len() {
        return Err(BillError::Totals(format!(
            "{count} lines announced, {} read",
            bill.lines.len()
        )));
    }
    if total(1)? != paid || total(2)? != refunded || total(4)? != fees {
        return Err(BillError::Totals("the amounts differ".into()));
    }
    if read_line(&mut r, &mut buf)? && !buf.iter().all(u8::is_ascii_whitespace) {
        return Err(BillError::Totals("lines after the summary".into()));
    }
    bill.paid_fen = paid;
    bill.refunded_fen = refunded;
    bill.fee_fen = fees;
    Ok(bill)
}

/// Writes `lines` as WeChat writes an `ALL` bill (the simulator's bills and
/// the tests'): amounts in yuan, fees with five decimals, `\r\n` endings.
pub fn write(lines: &[BillLine], mut out: impl std::io::Write) -> std::io::Result<()> {
    use fen_to_yuan as yuan;
    fn fee(fen: i64) -> String {
        format!("{}000", yuan(fen))
    }
    write!(out, "{HEADER}\r\n")?;
    let (mut paid, mut refunded, mut fees) = (0, 0, 0);
    for l in lines {
        let refund = l.kind == BillKind::Refund;
        let (settled, refund_amount) = if refund {
            (0, l.amount_fen)
        } else {
            (l.amount_fen, 0)
        };
        paid += settled;
        refunded += refund_amount;
        fees += l.fee_fen;
        let cells = [
            l.at.clone(),
            l.app_id.clone(),
            l.merchant_id.clone(),
            "0".into(),
            String::new(),
            l.transaction_id.clone(),
            l.out_trade_no.clone(),
            String::new(),
            "NATIVE".into(),
            if refund { "REFUND" } else { "SUCCESS" }.into(),
            "OTHERS".into(),
            "CNY".into(),
            yuan(settled),
            "0.00".into(),
            l.refund_id.clone().unwrap_or_else(|| "0".into()),
            l.out_refund_no.clone().unwrap_or_else(|| "0".into()),
            yuan(refund_amount),
            "0.00".into(),
            if refund { "ORIGINAL" } else { "" }.into(),
            if refund { "SUCCESS" } else { "" }.into(),
            "formpay".into(),
            String::new(),
            fee(l.fee_fen),
            "0.60%".into(),
            yuan(settled),
            yuan(refund_amount),
            String::new(),
        ];
        let line: Vec<String> = cells.iter().map(|c| format!("`{c}")).collect();
        write!(out, "{}\r\n", line.join(","))?;
    }
    write!(out, "{SUMMARY_HEADER}\r\n")?;
    write!(
        out,
        "`{},`{},`{},`0.00,`{},`{},`{}\r\n",
        lines.len(),
        yuan(paid),
        yuan(refunded),
        fee(fees),
        yuan(paid),
        yuan(refunded)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Two lines of a real bill (2024, published as a sample) and its layout.
    const REAL: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n\
`2024-07-09 16:47:58,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002166202406250324636876,`5617363390111199232,`oVgfJ5d35c6iAXrRCnfhOGF9aHT8,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50302709992024070991956632208,`5622435300878286848,`50.00,`0.00,`ORIGINAL,`SUCCESS,`2024-06-28 18:30 客户付款,`,`-0.27000,`0.54%,`0.00,`50.00,`\r\n\
`2024-07-09 10:06:33,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002360202407091150650780,`5622334254839656448,`oVgfJ5TrnzDOSuaxbFc33mw-5LUY,`JSAPI,`SUCCESS,`OTHERS,`CNY,`60.00,`0.00,`0,`0,`0.00,`0.00,`,`,`2024-07-10 13:50 客户付款,`,`0.32000,`0.54%,`60.00,`0.00,`\r\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n\
`2,`60.00,`50.00,`0.00,`0.05000,`60.00,`50.00\r\n";

    #[test]
    fn a_real_bill_is_read_exactly() {
        let bill = parse(REAL.as_bytes()).expect("bill");
        assert_eq!(bill.lines.len(), 2);
        let (refund, payment) = (&bill.lines[0], &bill.lines[1]);
        assert_eq!(refund.kind, BillKind::Refund);
        assert_eq!(refund.out_refund_no.as_deref(), Some("5622435300878286848"));
        assert_eq!(
            refund.refund_id.as_deref(),
            Some("50302709992024070991956632208")
        );
        assert_eq!((refund.amount_fen, refund.fee_fen), (5000, -27));
        assert_eq!(payment.kind, BillKind::Payment);
        assert_eq!(payment.out_trade_no, "5622334254839656448");
        assert_eq!(payment.transaction_id, "4200002360202407091150650780");
        assert_eq!(payment.merchant_id, "1579507281");
        assert_eq!((payment.amount_fen, payment.fee_fen), (6000, 32));
        assert_eq!(payment.at, "2024-07-09 10:06:33");
        assert_eq!(
            (bill.paid_fen, bill.refunded_fen, bill.fee_fen),
            (6000, 5000, 5)
        );
    }

    #[test]
    fn what_we_write_reads_back() {
        let bill = parse(REAL.as_bytes()).expect("bill");
        let mut out = Vec::new();
        write(&bill.lines, &mut out).expect("write");
        assert_eq!(parse(out.as_slice()).expect("again").lines, bill.lines);
    }

    #[test]
    fn amounts_round_to_the_fen() {
        assert_eq!(yuan_to_fen("0.01"), Some(1));
        assert_eq!(yuan_to_fen("7.79000"), Some(779));
        assert_eq!(yuan_to_fen("0.00500"), Some(1));
        assert_eq!(yuan_to_fen("0.00499"), Some(0));
        assert_eq!(yuan_to_fen("-0.27000"), Some(-27));
        assert_eq!(yuan_to_fen("12"), Some(1200));
        for bad in [
            "",
            "-",
            ".5",
            "1.000001",
            "1,00",
            "１.00",
            "99999999999999.00",
            "0x1",
        ] {
            assert_eq!(yuan_to_fen(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_truncated_or_altered_bill_is_refused() {
        let cut = &REAL[..REAL.find("总交易单数").expect("summary")];
        assert_eq!(parse(cut.as_bytes()), Err(BillError::NoSummary));
        let more = REAL.replace("`60.00,`0.00,`0,`0,", "`61.00,`0.00,`0,`0,");
        assert!(matches!(parse(more.as_bytes()), Err(BillError::Totals(_))));
        let fewer = REAL.replace("`2,`60.00", "`3,`60.00");
        assert!(matches!(parse(fewer.as_bytes()), Err(BillError::Totals(_))));
        let unknown = REAL.replace("`JSAPI,`SUCCESS", "`JSAPI,`PAYING");
        assert!(matches!(
            parse(unknown.as_bytes()),
            Err(BillError::Line(3, _))
        ));
        let no_tick = REAL.replace(
            "`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002360",
            "wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002360",
        );
        assert!(matches!(
            parse(no_tick.as_bytes()),
            Err(BillError::Line(3, _))
        ));
        assert_eq!(parse(&b"not a bill\n"[..]), Err(BillError::Header));
        assert_eq!(parse(&b""[..]), Err(BillError::Header));
        let long = format!("{HEADER}\n`{}\n", "x".repeat(MAX_LINE));
        assert!(matches!(parse(long.as_bytes()), Err(BillError::Io(_))));
    }

    #[test]
    fn a_file_is_read_gzip_or_plain_and_only_with_its_sha1() {
        use std::io::Write;
        let sha1 = hex::encode(ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            REAL.as_bytes(),
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(REAL.as_bytes()).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let plain = read_file(REAL.as_bytes(), &sha1).expect("plain");
        assert_eq!(read_file(&gz, &sha1.to_uppercase()).expect("gzip"), plain);
        let other = "0".repeat(40);
        assert!(matches!(
            read_file(&gz, &other),
            Err(ProviderError::Verification(_))
        ));
        // A broken gzip stream is refused, not half read.
        assert!(read_file(&gz[..gz.len() / 2], &sha1).is_err());
    }

    proptest! {
        /// Whatever the bytes, the parser answers (no panic), and a bill it
        /// accepts adds up to its own summary.
        #[test]
        fn hostile_bills_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2048), cut in 0usize..1200) {
            let mut bytes = REAL.as_bytes()[..cut.min(REAL.len())].to_vec();
            bytes.extend_from_slice(&tail);
            if let Ok(bill) = parse(bytes.as_slice()) {
                prop_assert_eq!(bill.lines.iter().map(|l| l.fee_fen).sum::<i64>(), bill.fee_fen);
            }
        }

        #[test]
        fn any_line_edit_is_refused_or_consistent(i in 0usize..900, b in any::<u8>()) {
            let mut bytes = REAL.as_bytes().to_vec();
            let i = i % bytes.len();
            bytes[i] = b;
            let _ = parse(bytes.as_slice());
        }
    }
}
