//! WeChat Pay's daily fund flow bill (资金账单, `GET /v3/bill/fundflowbill`,
//! `account_type=BASIC`): a header line, one line per movement of the basic
//! account with every cell prefixed by a backtick, then a summary header and
//! its line (counts and totals of money in and out). Read like the trade
//! bill: line by line, each line bounded, checked against the summary.

use super::bill::{read_line, yuan_to_fen, BillError};
use formpay_core::provider::{FundFlow, FundFlowLine};
use std::io::BufRead;

/// The header, as WeChat writes it (half-width parentheses).
pub const HEADER: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号";
pub const SUMMARY_HEADER: &str = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额";

fn line_error(n: usize, why: &str) -> BillError {
    BillError::Line(n, why.to_owned())
}

fn cells(line: &str) -> Option<Vec<&str>> {
    line.split(',')
        .map(|c| c.strip_prefix('`'))
        .collect::<Option<Vec<_>>>()
}

/// A count written as `20` or `20.0`.
fn count(s: &str) -> Option<i64> {
    let whole = s.strip_suffix(".0").unwrap_or(s);
    whole.parse().ok().filter(|n| *n >= 0)
}

pub fn parse<R: BufRead>(mut r: R) -> Result<FundFlow, BillError> {
    let mut buf = Vec::new();
    if !read_line(&mut r, &mut buf)? {
        return Err(BillError::Header);
    }
    let header = std::str::from_utf8(&buf).map_err(|_| BillError::Header)?;
    // Some copies spell the parentheses full-width.
    let header = header
        .trim_start_matches('\u{feff}')
        .replace('（', "(")
        .replace('）', ")");
    if header != HEADER {
        return Err(BillError::Header);
    }
    let mut flow = FundFlow::default();
    let (mut ins, mut outs) = (0i64, 0i64);
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
                .filter(|c| c.len() == 5)
                .ok_or_else(|| line_error(n, "a summary of 5 cells"))?
                .iter()
                .map(|c| (*c).to_owned())
                .collect::<Vec<_>>();
        }
        let c = cells(text).ok_or_else(|| line_error(n, "a cell without its backtick"))?;
        if c.len() != 11 {
            return Err(line_error(n, "not 11 cells"));
        }
        let income = match c[5] {
            "收入" => true,
            "支出" => false,
            _ => return Err(line_error(n, "neither 收入 nor 支出")),
        };
        let amount_fen = yuan_to_fen(c[6])
            .filter(|v| *v >= 0)
            .ok_or_else(|| line_error(n, "an amount"))?;
        let balance_fen = yuan_to_fen(c[7]).ok_or_else(|| line_error(n, "a balance"))?;
        if c[0].len() != 19 || c[3].is_empty() {
            return Err(line_error(n, "no time or business name"));
        }
        if income {
            ins += 1;
            flow.income_fen += amount_fen;
        } else {
            outs += 1;
            flow.expense_fen += amount_fen;
        }
        flow.lines.push(FundFlowLine {
            at: c[0].to_owned(),
            business_no: c[1].to_owned(),
            flow_no: c[2].to_owned(),
            name: c[3].to_owned(),
            kind: c[4].to_owned(),
            income,
            amount_fen,
            balance_fen,
            voucher: c[10].to_owned(),
        });
    };
    let total =
        |i: usize| yuan_to_fen(&summary[i]).ok_or_else(|| BillError::Totals(format!("cell {i}")));
    let counted =
        |i: usize| count(&summary[i]).ok_or_else(|| BillError::Totals(format!("cell {i}")));
    if counted(0)? != ins + outs || counted(1)? != ins || counted(3)? != outs {
        return Err(BillError::Totals(format!(
            "{} lines announced, {} read",
            summary[0],
            ins + outs
        )));
    }
    if total(2)? != flow.income_fen || total(4)? != flow.expense_fen {
        return Err(BillError::Totals("the amounts differ".into()));
    }
    if read_line(&mut r, &mut buf)? && !buf.iter().all(u8::is_ascii_whitespace) {
        return Err(BillError::Totals("lines after the summary".into()));
    }
    Ok(flow)
}

/// Writes `lines` as WeChat writes a fund flow bill (the simulator's).
pub fn write(lines: &[FundFlowLine], mut out: impl std::io::Write) -> std::io::Result<()> {
    use super::bill::fen_to_yuan as yuan;
    write!(out, "{HEADER}\r\n")?;
    let (mut ins, mut outs, mut income, mut expense) = (0, 0, 0, 0);
    for l in lines {
        if l.income {
            ins += 1;
            income += l.amount_fen;
        } else {
            outs += 1;
            expense += l.amount_fen;
        }
        let cells = [
            l.at.clone(),
            l.business_no.clone(),
            l.flow_no.clone(),
            l.name.clone(),
            l.kind.clone(),
            if l.income { "收入" } else { "支出" }.to_owned(),
            yuan(l.amount_fen),
            yuan(l.balance_fen),
            "system".into(),
            String::new(),
            l.voucher.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| format!("`{c}")).collect();
        write!(out, "{}\r\n", line.join(","))?;
    }
    write!(out, "{SUMMARY_HEADER}\r\n")?;
    write!(
        out,
        "`{}.0,`{ins}.0,`{},`{outs}.0,`{}\r\n",
        ins + outs,
        yuan(income),
        yuan(expense)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published example line and a test fixture's, with a summary.
    const PUBLISHED: &str = "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,备注,业务凭证号\r\n`2021-04-11 21:35:06,`4200000934202104116411967580,`4200000934202104116411967580,`交易,`交易,`收入,`0.01,`0.01,`system,`结算总金额 0.01 元;含手续费 0.00 元,`1618148094082_GT\r\n`2018-02-01 04:21:23,`50000305742018020103387128253,`1900009231201802015884652186,`退款,`退款,`支出,`0.02,`0.17,`system,`缺货,`REF4200000068201801293084726067\r\n资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n`2.0,`1.0,`0.01,`1.0,`0.02\r\n";

    #[test]
    fn a_published_fund_flow_reads() {
        let flow = parse(PUBLISHED.as_bytes()).expect("reads");
        assert_eq!(flow.lines.len(), 2);
        assert_eq!((flow.income_fen, flow.expense_fen), (1, 2));
        assert_eq!(flow.trade_net_fen(), -1);
        assert_eq!(flow.lines[1].voucher, "REF4200000068201801293084726067");
        assert!(!flow.lines[1].income);
    }

    #[test]
    fn a_truncated_or_altered_fund_flow_is_refused() {
        let cut = PUBLISHED.split("资金流水总笔数").next().unwrap_or_default();
        assert!(matches!(parse(cut.as_bytes()), Err(BillError::NoSummary)));
        let altered = PUBLISHED.replacen("`0.02,`0.17", "`0.03,`0.17", 1);
        assert!(matches!(
            parse(altered.as_bytes()),
            Err(BillError::Totals(_))
        ));
        let odd = PUBLISHED.replacen("`收入", "`转入", 1);
        assert!(parse(odd.as_bytes()).is_err());
        assert!(parse("x\r\n".as_bytes()).is_err());
    }

    #[test]
    fn what_is_written_reads_back() {
        let flow = parse(PUBLISHED.as_bytes()).expect("reads");
        let mut out = Vec::new();
        write(&flow.lines, &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let again = parse(text.as_bytes()).expect("reads again");
        assert_eq!(again.lines, flow.lines);
    }

    proptest::proptest! {
        #[test]
        fn no_file_makes_it_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1000), at in 0usize..700) {
            let mut bytes = PUBLISHED.as_bytes().to_vec();
            bytes.truncate(at.min(bytes.len()));
            bytes.extend_from_slice(&tail);
            let _ = parse(bytes.as_slice());
        }
    }
}
