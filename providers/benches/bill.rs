//! Reading a trade bill of 100,000 lines (issue 15), WeChat Pay's (gzip) and
//! Alipay's (a zip of GBK files): time and heap, beside the bound measured in
//! the same run, a bare pass over the same file (decompress and split into
//! lines, nothing decoded, checked or kept).
//!
//! `cargo bench -p providers --bench bill`

use formpay_core::provider::{BillKind, BillLine};
use providers::wechat_v3::bill;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

/// A field of `/proc/self/status`, in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

const LINES: usize = 100_000;

fn lines() -> Vec<BillLine> {
    (0..LINES)
        .map(|i| {
            let refund = i % 10 == 9;
            let amount = 100 + (i as i64 * 37) % 50_000;
            BillLine {
                kind: if refund {
                    BillKind::Refund
                } else {
                    BillKind::Payment
                },
                at: format!(
                    "2026-12-05 {:02}:{:02}:{:02}",
                    (i / 3600) % 24,
                    (i / 60) % 60,
                    i % 60
                ),
                app_id: "wxd930ea5d5a258f4f".into(),
                merchant_id: "1900000109".into(),
                transaction_id: format!("4200002026120{i:015}"),
                out_trade_no: format!("FP0017964{i:017}"),
                out_refund_no: refund.then(|| format!("R17964{i:020}")),
                refund_id: refund.then(|| format!("50302026120{i:018}")),
                amount_fen: amount,
                fee_fen: if refund {
                    -(amount * 6 + 500) / 1000
                } else {
                    (amount * 6 + 500) / 1000
                },
            }
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let (file, hash, text_len) = {
        let mut text = Vec::new();
        bill::write(&lines(), &mut text).expect("write");
        let hash = hex::encode(ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &text,
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).expect("gzip");
        (gz.finish().expect("gzip"), hash, text.len())
    };
    // The peak resident size from here on (Linux: "5" resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS");
    let read = bill::read_file(&file, &hash).expect("bill");
    assert_eq!(read.lines.len(), LINES);
    drop(read);
    let peak = status_kib("VmHWM").saturating_sub(before) * 1024;

    let runs = 5;
    let bare = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let r = std::io::BufReader::new(flate2::read::GzDecoder::new(file.as_slice()));
                let n = r
                    .split(b'\n')
                    .map(|l| l.expect("line").len())
                    .filter(|len| *len > 0)
                    .count();
                assert!(n > LINES);
                t.elapsed()
            })
            .collect(),
    );
    let ours = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let read = bill::read_file(&file, &hash).expect("bill");
                let took = t.elapsed();
                assert_eq!(read.lines.len(), LINES);
                took
            })
            .collect(),
    );
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "bill of {LINES} lines: {:.1} MiB of text, {:.1} MiB gzip",
        mib(text_len),
        mib(file.len())
    );
    println!(
        "read, checked (SHA-1, totals) and kept: {:.0} ms (median of {runs}); bound, a bare gunzip and line split of the same file in this run: {:.0} ms ({:.1}x)",
        ours.as_secs_f64() * 1000.0,
        bare.as_secs_f64() * 1000.0,
        ours.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "resident memory added at the peak while reading: {:.1} MiB ({:.0} bytes a line; the text is never held whole, the lines read are)",
        mib(peak),
        peak as f64 / LINES as f64
    );
    alipay(&lines());
}

/// The same lines as Alipay's zip.
fn alipay(lines: &[BillLine]) {
    use providers::alipay::bill as alipay_bill;
    use std::io::Read;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
    let zip = alipay_bill::write_zip("2088000000000001", date, lines).expect("zip");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_kib("VmRSS");
    let read = alipay_bill::read_zip(&zip).expect("bill");
    assert_eq!(read.lines.len(), LINES);
    drop(read);
    let peak = status_kib("VmHWM").saturating_sub(before) * 1024;
    let runs = 5;
    let bare = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let mut archive =
                    zip::ZipArchive::new(std::io::Cursor::new(zip.as_slice())).expect("zip");
                let entry = archive.by_index(0).expect("entry");
                let n = std::io::BufReader::new(entry.take(u64::MAX))
                    .split(b'\n')
                    .map(|l| l.expect("line").len())
                    .filter(|len| *len > 0)
                    .count();
                assert!(n > LINES);
                t.elapsed()
            })
            .collect(),
    );
    let ours = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let read = alipay_bill::read_zip(&zip).expect("bill");
                let took = t.elapsed();
                assert_eq!(read.lines.len(), LINES);
                took
            })
            .collect(),
    );
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "Alipay bill of {LINES} lines: {:.1} MiB zip",
        mib(zip.len())
    );
    println!(
        "read (unzip, GBK), checked (footer totals) and kept: {:.0} ms (median of {runs}); bound, a bare unzip and line split of the same file in this run: {:.0} ms ({:.1}x)",
        ours.as_secs_f64() * 1000.0,
        bare.as_secs_f64() * 1000.0,
        ours.as_secs_f64() / bare.as_secs_f64()
    );
    println!(
        "resident memory added at the peak while reading: {:.1} MiB ({:.0} bytes a line)",
        mib(peak),
        peak as f64 / LINES as f64
    );
}
