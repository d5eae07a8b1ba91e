//! Alipay's daily trade bill (`alipay.data.dataservice.bill.downloadurl.query`,
//! `bill_type=trade`): a zip holding `<账号>_<yyyyMMdd>_业务明细.csv` and its
//! `(汇总)`, GBK-encoded, names included. The detail file has `#` comment
//! lines (the account, the dates), a header row, one row per payment
//! (`交易`) or refund (`退款`, amounts negative) with many cells ending in a
//! tab, and `#交易合计` / `#退款合计` footer lines. Read line by line from the
//! zip entry (bounded), each line decoded from GBK, and checked against the
//! footer: a truncated or altered file is refused.

use crate::wechat_v3::bill::{fen_to_yuan as yuan, read_line, yuan_to_fen, BillError};
use formpay_core::provider::{Bill, BillKind, BillLine, ProviderError};
use std::io::{BufRead, Read, Write};

/// The detail header row, as Alipay writes it.
pub const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";
const COLUMNS: usize = 25;
/// The most text the detail file may decompress to (a zip bomb stops here).
const MAX_TEXT: u64 = 1024 * 1024 * 1024;

fn gbk(bytes: &[u8]) -> String {
    encoding_rs::GBK
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// A zip entry's name: UTF-8 when it is, else GBK (as Alipay writes them).
fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => gbk(raw),
    }
}

/// The bill in the zip `bytes`: its detail file, read and checked.
pub fn read_zip(bytes: &[u8]) -> Result<Bill, ProviderError> {
    let malformed = |e: String| ProviderError::Malformed(format!("the bill cannot be read: {e}"));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| malformed(e.to_string()))?;
    let mut detail = None;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| malformed(e.to_string()))?;
        if entry_name(entry.name_raw()).ends_with("_业务明细.csv") {
            detail = Some(i);
            break;
        }
    }
    let index = detail.ok_or_else(|| malformed("no 业务明细 file in the zip".into()))?;
    let entry = archive
        .by_index(index)
        .map_err(|e| malformed(e.to_string()))?;
    parse(std::io::BufReader::new(entry.take(MAX_TEXT)))
        .map_err(|e| ProviderError::Malformed(e.to_string()))
}

fn line_error(n: usize, why: &str) -> BillError {
    BillError::Line(n, why.to_owned())
}

/// `笔` count and `共…元` amount of a footer line such as
/// `#交易合计：6笔，商家实收共0.06元，商家优惠共0.00元`.
fn footer(text: &str) -> Option<(usize, i64)> {
    let (_, rest) = text.split_once('：')?;
    let (count, rest) = rest.split_once('笔')?;
    let (_, rest) = rest.split_once('共')?;
    let (amount, _) = rest.split_once('元')?;
    Some((count.trim().parse().ok()?, yuan_to_fen(amount.trim())?))
}

/// Parses a detail file (GBK, line by line).
pub fn parse<R: BufRead>(mut r: R) -> Result<Bill, BillError> {
    let mut buf = Vec::new();
    let mut bill = Bill::default();
    let mut merchant = String::new();
    let mut header_seen = false;
    // Per kind: lines, the merchant's receipts (商家实收) as the footer counts them.
    let (mut payments, mut refunds) = ((0usize, 0i64), (0usize, 0i64));
    let (mut paid_footer, mut refund_footer) = (None, None);
    let mut n = 0;
    while read_line(&mut r, &mut buf)? {
        n += 1;
        let text = gbk(&buf);
        let text = text.trim_start_matches('\u{feff}').trim_end();
        if text.is_empty() {
            continue;
        }
        if let Some(comment) = text.strip_prefix('#') {
            if let Some(account) = comment.strip_prefix("账号：") {
                merchant = account.trim_matches(['[', ']', ' ']).to_owned();
            } else if comment.starts_with("交易合计") {
                paid_footer =
                    Some(footer(comment).ok_or_else(|| line_error(n, "the payments' total"))?);
            } else if comment.starts_with("退款合计") {
                refund_footer =
                    Some(footer(comment).ok_or_else(|| line_error(n, "the refunds' total"))?);
            }
            continue;
        }
        if !header_seen {
            if text != HEADER {
                return Err(BillError::Header);
            }
            header_seen = true;
            continue;
        }
        if paid_footer.is_some() || refund_footer.is_some() {
            return Err(line_error(n, "a row after the totals"));
        }
        let c: Vec<&str> = text
            .split(',')
            .map(|c| c.trim_matches(['\t', ' ']))
            .collect();
        if c.len() != COLUMNS {
            return Err(line_error(n, "not 25 cells"));
        }
        let fen = |i: usize| yuan_to_fen(c[i]).ok_or_else(|| line_error(n, "an amount"));
        let (transaction_id, out_trade_no) = (c[0].to_owned(), c[1].to_owned());
        if transaction_id.is_empty() || out_trade_no.is_empty() || c[5].len() != 19 {
            return Err(line_error(n, "no trade number, order number or time"));
        }
        let (order_fen, received_fen) = (fen(11)?, fen(12)?);
        // 服务费 is what Alipay takes: negative on a payment; ours is the
        // fee charged, so its opposite (given back on a refund).
        let fee_fen = -fen(22)?;
        let (kind, amount_fen, out_refund_no) = match c[2] {
            "交易" if order_fen > 0 => {
                payments.0 += 1;
                payments.1 += received_fen;
                (BillKind::Payment, order_fen, None)
            }
            "退款" if order_fen < 0 => {
                refunds.0 += 1;
                refunds.1 += received_fen;
                let no = Some(c[21].to_owned()).filter(|v| !v.is_empty());
                (
                    BillKind::Refund,
                    -order_fen,
                    Some(no.ok_or_else(|| line_error(n, "a refund without its request number"))?),
                )
            }
            _ => return Err(line_error(n, "an unknown business type or a wrong sign")),
        };
        match kind {
            BillKind::Payment => bill.paid_fen += amount_fen,
            BillKind::Refund => bill.refunded_fen += amount_fen,
        }
        bill.fee_fen += fee_fen;
        bill.lines.push(BillLine {
            kind,
            at: c[5].to_owned(),
            app_id: String::new(),
            merchant_id: merchant.clone(),
            transaction_id,
            out_trade_no,
            out_refund_no,
            refund_id: None,
            amount_fen,
            fee_fen,
        });
    }
    if !header_seen {
        return Err(BillError::Header);
    }
    let (Some(paid_footer), Some(refund_footer)) = (paid_footer, refund_footer) else {
        return Err(BillError::NoSummary);
    };
    if paid_footer != payments || refund_footer != refunds {
        return Err(BillError::Totals(format!(
            "the footer says {paid_footer:?} and {refund_footer:?}, the rows {payments:?} and {refunds:?}"
        )));
    }
    Ok(bill)
}

/// Writes `lines` as Alipay writes a trade bill's detail file (UTF-8 here;
/// [`write_zip`] encodes it): comments, header, rows with their tabs,
/// footer, `\r\n` endings.
pub fn write_detail(
    account: &str,
    date: chrono::NaiveDate,
    lines: &[BillLine],
    mut out: impl Write,
) -> std::io::Result<()> {
    let day = date.format("%Y年%m月%d日").to_string();
    let next = (date + chrono::Duration::days(1))
        .format("%Y年%m月%d日")
        .to_string();
    write!(out, "#支付宝业务明细查询\r\n#账号：[{account}]\r\n")?;
    write!(
        out,
        "#起始日期：[{day} 00:00:00]   终止日期：[{next} 00:00:00]\r\n"
    )?;
    write!(
        out,
        "#-----------------------------------------业务明细列表----------------------------------------\r\n{HEADER}\r\n"
    )?;
    let (mut payments, mut refunds) = ((0, 0i64), (0, 0i64));
    for l in lines {
        let refund = l.kind == BillKind::Refund;
        let signed = if refund { -l.amount_fen } else { l.amount_fen };
        if refund {
            refunds.0 += 1;
            refunds.1 += signed;
        } else {
            payments.0 += 1;
            payments.1 += signed;
        }
        write!(
            out,
            "{}\t,{}\t,{}\t,formpay,{at},{at},\t,\t,\t,\t,*付(sim***@example.com)\t,{amount},{amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,{}\t,{fee},0.00,\r\n",
            l.transaction_id,
            l.out_trade_no,
            if refund { "退款" } else { "交易" },
            l.out_refund_no.as_deref().unwrap_or(""),
            at = l.at,
            amount = yuan(signed),
            fee = yuan(-l.fee_fen),
        )?;
    }
    write!(
        out,
        "#-----------------------------------------业务明细列表结束------------------------------------\r\n"
    )?;
    write!(
        out,
        "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\r\n#退款合计：{}笔，商家实收退款共{}元，商家优惠退款共0.00元\r\n",
        payments.0,
        yuan(payments.1),
        refunds.0,
        yuan(refunds.1)
    )?;
    write!(out, "#导出时间：[{day} 09:00:00]\r\n")
}

/// The zip Alipay serves: the detail file and its summary, GBK-encoded.
pub fn write_zip(
    account: &str,
    date: chrono::NaiveDate,
    lines: &[BillLine],
) -> std::io::Result<Vec<u8>> {
    let mut detail = Vec::new();
    write_detail(account, date, lines, &mut detail)?;
    let text = String::from_utf8_lossy(&detail);
    let (encoded, _, _) = encoding_rs::GBK.encode(&text);
    let stem = format!("{account}_{}", date.format("%Y%m%d"));
    let summary = format!(
        "#支付宝业务汇总查询\r\n#账号：[{account}]\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,服务费（元）\r\n合计,,{},{},{},{},{}\r\n",
        lines.iter().filter(|l| l.kind == BillKind::Payment).count(),
        lines.iter().filter(|l| l.kind == BillKind::Refund).count(),
        yuan(lines.iter().map(|l| if l.kind == BillKind::Refund { -l.amount_fen } else { l.amount_fen }).sum()),
        yuan(lines.iter().map(|l| if l.kind == BillKind::Refund { -l.amount_fen } else { l.amount_fen }).sum()),
        yuan(-lines.iter().map(|l| l.fee_fen).sum::<i64>()),
    );
    let (summary, _, _) = encoding_rs::GBK.encode(&summary);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in [
        (format!("{stem}_业务明细.csv"), encoded),
        (format!("{stem}_业务明细(汇总).csv"), summary),
    ] {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&body)?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real bill's detail file, as published in an open-source test
    /// (`AlipayGeneralPaymentHandlerTest`), with its tabs; the fee of the
    /// first payment set to -0.01 as Alipay charges it.
    const REAL: &str = "#支付宝业务明细查询\r\n#账号：[20880211096256330156]\r\n#起始日期：[2019年09月16日 00:00:00]   终止日期：[2019年09月17日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n2019091622001458860515315453\t,service_1568601259302\t,交易\t,下单测试,2019-09-16 10:55:16,2019-09-16 10:55:23,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,1.00,1.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.01,0.00,下单测试\r\n2019091622001458860515315453\t,service_1568601259302\t,退款\t,下单测试,2019-09-16 10:55:16,2019-09-16 10:56:48,alipay_store\t,alipay_store\t,alipay\t,\t,*津水(602***@qq.com)\t,-0.01,-0.01,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,re_test_1568602607356\t,0.00,0.00,下单测试\r\n#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：1笔，商家实收共1.00元，商家优惠共0.00元\r\n#退款合计：1笔，商家实收退款共-0.01元，商家优惠退款共0.00元\r\n#导出时间：[2019年09月17日 05:46:49]\r\n";

    fn gbk_bytes(s: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(s).0.into_owned()
    }

    #[test]
    fn a_real_bill_reads() {
        let bill = parse(gbk_bytes(REAL).as_slice()).expect("reads");
        assert_eq!(bill.lines.len(), 2);
        let (pay, refund) = (&bill.lines[0], &bill.lines[1]);
        assert_eq!(pay.kind, BillKind::Payment);
        assert_eq!(pay.out_trade_no, "service_1568601259302");
        assert_eq!(pay.transaction_id, "2019091622001458860515315453");
        assert_eq!((pay.amount_fen, pay.fee_fen), (100, 1));
        assert_eq!(pay.merchant_id, "20880211096256330156");
        assert_eq!(refund.kind, BillKind::Refund);
        assert_eq!(refund.amount_fen, 1);
        assert_eq!(
            refund.out_refund_no.as_deref(),
            Some("re_test_1568602607356")
        );
        assert_eq!(
            (bill.paid_fen, bill.refunded_fen, bill.fee_fen),
            (100, 1, 1)
        );
    }

    #[test]
    fn a_truncated_or_altered_bill_is_refused() {
        let cut = REAL.split("#交易合计").next().unwrap_or_default();
        assert!(matches!(
            parse(gbk_bytes(cut).as_slice()),
            Err(BillError::NoSummary)
        ));
        let altered = REAL.replacen(",1.00,1.00,", ",2.00,2.00,", 1);
        assert!(matches!(
            parse(gbk_bytes(&altered).as_slice()),
            Err(BillError::Totals(_))
        ));
        let wrong_sign = REAL.replacen(",-0.01,-0.01,", ",0.01,0.01,", 1);
        assert!(parse(gbk_bytes(&wrong_sign).as_slice()).is_err());
        let other = REAL.replacen("交易\t", "冻结\t", 1);
        assert!(parse(gbk_bytes(&other).as_slice()).is_err());
        assert!(matches!(
            parse("not a bill\r\n".as_bytes()),
            Err(BillError::Header)
        ));
        assert!(read_zip(b"PK\x03\x04 not a zip").is_err());
    }

    #[test]
    fn what_is_written_reads_back_through_the_zip() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let line = |kind, no: &str, refund: Option<&str>, amount, fee| BillLine {
            kind,
            at: "2026-12-05 10:00:00".into(),
            app_id: String::new(),
            merchant_id: "2088000000000001".into(),
            transaction_id: format!("2026120522001{no}"),
            out_trade_no: no.into(),
            out_refund_no: refund.map(str::to_owned),
            refund_id: None,
            amount_fen: amount,
            fee_fen: fee,
        };
        let lines = vec![
            line(BillKind::Payment, "FP1", None, 5000, 30),
            line(BillKind::Refund, "FP1", Some("RF1"), 1000, -6),
        ];
        let zip = write_zip("2088000000000001", date, &lines).expect("zip");
        let bill = read_zip(&zip).expect("reads");
        assert_eq!(bill.lines, lines);
        assert_eq!(
            (bill.paid_fen, bill.refunded_fen, bill.fee_fen),
            (5000, 1000, 24)
        );
    }

    proptest::proptest! {
        #[test]
        fn no_file_makes_it_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000), at in 0usize..1400) {
            let mut bytes = gbk_bytes(REAL);
            let at = at.min(bytes.len());
            bytes.truncate(at);
            bytes.extend_from_slice(&tail);
            let _ = parse(bytes.as_slice());
            let _ = read_zip(&bytes);
        }
    }
}
