//! The proof of work a form asks for while it receives a burst of
//! submissions (self-hosted; no third-party captcha): find a nonce such that
//! SHA-256 of `challenge:nonce` starts with `bits` zero bits. The page solves
//! it in WebAssembly with this code; the server checks it with the same.

use sha2::{Digest, Sha256};

/// The answer key a solution arrives under (`challenge:nonce`).
pub const POW_KEY: &str = "pow.solution";

/// The most bits the server ever asks for (about 16 million hashes).
pub const MAX_BITS: u32 = 24;

fn zero_bits(hash: &[u8]) -> u32 {
    let mut n = 0;
    for b in hash {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

/// Whether `nonce` solves `challenge` at `bits`.
pub fn check(challenge: &str, nonce: u64, bits: u32) -> bool {
    let hash = Sha256::digest(format!("{challenge}:{nonce}").as_bytes());
    zero_bits(&hash) >= bits.min(MAX_BITS)
}

/// Finds the first nonce that solves `challenge` (about 2^bits tries).
pub fn solve(challenge: &str, bits: u32) -> u64 {
    (0..u64::MAX)
        .find(|n| check(challenge, *n, bits))
        .unwrap_or(0)
}

/// A solution as the page sends it.
pub fn solution(challenge: &str, nonce: u64) -> String {
    format!("{challenge}:{nonce}")
}

/// The challenge and nonce of a solution.
pub fn parse_solution(s: &str) -> Option<(&str, u64)> {
    let (c, n) = s.trim().rsplit_once(':')?;
    Some((c, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solution_is_found_and_checked() {
        let n = solve("demo.1.abc.tag", 12);
        assert!(check("demo.1.abc.tag", n, 12));
        assert!(
            (0..n).all(|m| !check("demo.1.abc.tag", m, 12)),
            "the first one"
        );
        let s = solution("demo.1.abc.tag", n);
        assert_eq!(parse_solution(&s), Some(("demo.1.abc.tag", n)));
        assert_eq!(parse_solution("no-nonce"), None);
        assert_eq!(parse_solution("c:-1"), None);
        assert_eq!(zero_bits(&[0, 0, 0b0001_0000]), 19);
        assert_eq!(zero_bits(&[0x80]), 0);
    }
}
