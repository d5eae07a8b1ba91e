//! The states of a payment attempt and of a refund. (An order's states and
//! their transitions are in `order_status`.)

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a payment attempt (one provider order of an order) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// The provider order exists (or is being made) and may be paid.
    Open,
    /// We asked the provider to close it and it could not confirm: the
    /// reconciler keeps looking until it can no longer be paid.
    Closing,
    Closed,
    /// The provider refused to make it.
    Failed,
    /// The provider reported it paid; recorded once.
    Paid,
}

/// Where a refund is: it moves once, from processing to one of the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    Processing,
    Succeeded,
    Closed,
    Abnormal,
}

impl AttemptState {
    pub const ALL: [AttemptState; 5] = [
        AttemptState::Open,
        AttemptState::Closing,
        AttemptState::Closed,
        AttemptState::Failed,
        AttemptState::Paid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Open => "open",
            AttemptState::Closing => "closing",
            AttemptState::Closed => "closed",
            AttemptState::Failed => "failed",
            AttemptState::Paid => "paid",
        }
    }

    pub fn parse(s: &str) -> Option<AttemptState> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl RefundState {
    pub const ALL: [RefundState; 4] = [
        RefundState::Processing,
        RefundState::Succeeded,
        RefundState::Closed,
        RefundState::Abnormal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Processing => "processing",
            RefundState::Succeeded => "succeeded",
            RefundState::Closed => "closed",
            RefundState::Abnormal => "abnormal",
        }
    }

    pub fn parse(s: &str) -> Option<RefundState> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the refund still holds money back from the order (it may
    /// yet succeed, or left our account without reaching the payer).
    pub fn holds_money(self) -> bool {
        self != RefundState::Closed
    }
}

impl fmt::Display for AttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RefundState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in AttemptState::ALL {
            assert_eq!(AttemptState::parse(s.as_str()), Some(s));
        }
        for s in RefundState::ALL {
            assert_eq!(RefundState::parse(s.as_str()), Some(s));
        }
        assert_eq!(AttemptState::parse("PAID"), None);
        assert_eq!(RefundState::parse("SUCCESS"), None);
    }
}
