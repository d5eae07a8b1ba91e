//! The payment order state machine (`docs/ARCHITECTURE.md`). Every change of an
//! order's status in the database goes through [`OrderStatus::transition`]
//! and is then written as a compare-and-set.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stored, no provider order made yet.
    Created,
    /// A provider order exists; waiting for the payer.
    Pending,
    Paid,
    /// A refund was asked for and the provider has not settled it yet.
    Refunding,
    PartiallyRefunded,
    Refunded,
    /// The payer did not pay in time; closed at the provider.
    Expired,
    /// Closed on purpose (by an administrator or the payer).
    Closed,
    /// Money arrived for an order that was already closed or expired, through
    /// a payment attempt that was no longer the current one, or a second time:
    /// an administrator decides (accept or refund). Never dropped.
    NeedsReview,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct InvalidTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Created,
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Refunding,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
        OrderStatus::Expired,
        OrderStatus::Closed,
        OrderStatus::NeedsReview,
    ];

    /// Whether the state machine allows `self → next`.
    pub fn can_transition_to(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Created, Pending | Expired | Closed)
                | (Pending, Paid | Expired | Closed)
                // A payment that lands after the order was given up, through an
                // attempt that is no longer the current one, or a second payment
                // of a paid order, is kept for review.
                | (Expired | Closed | Pending | Paid | PartiallyRefunded, NeedsReview)
                // An administrator accepts the late payment, or refunds it.
                | (NeedsReview, Paid | Refunding)
                | (Paid | PartiallyRefunded, Refunding)
                | (Refunding, Refunded | PartiallyRefunded)
                // A refund that failed or was closed returns the order to where it was.
                | (Refunding, Paid)
        )
    }

    pub fn transition(self, next: OrderStatus) -> Result<OrderStatus, InvalidTransition> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(InvalidTransition {
                from: self,
                to: next,
            })
        }
    }

    /// Where a paid order stands once one of its refunds is settled:
    /// refunding while others are still processing, else by how much of the
    /// money received has been refunded.
    pub fn after_refunds(
        still_processing: bool,
        refunded_fen: i64,
        received_fen: i64,
    ) -> OrderStatus {
        if still_processing {
            OrderStatus::Refunding
        } else if refunded_fen >= received_fen {
            OrderStatus::Refunded
        } else if refunded_fen > 0 {
            OrderStatus::PartiallyRefunded
        } else {
            OrderStatus::Paid
        }
    }

    /// No payer action can change the order any more: the payment page stops
    /// listening for changes.
    pub fn is_final_for_payer(self) -> bool {
        !matches!(self, OrderStatus::Created | OrderStatus::Pending)
    }

    /// Money was received for this order.
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid
                | OrderStatus::Refunding
                | OrderStatus::PartiallyRefunded
                | OrderStatus::Refunded
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "created",
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Refunding => "refunding",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Expired => "expired",
            OrderStatus::Closed => "closed",
            OrderStatus::NeedsReview => "needs_review",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    /// The whole table, written out by hand from docs/ARCHITECTURE.md.
    const ALLOWED: &[(OrderStatus, OrderStatus)] = &[
        (Created, Pending),
        (Created, Expired),
        (Created, Closed),
        (Pending, Paid),
        (Pending, Expired),
        (Pending, Closed),
        (Expired, NeedsReview),
        (Closed, NeedsReview),
        (Pending, NeedsReview),
        (Paid, NeedsReview),
        (PartiallyRefunded, NeedsReview),
        (NeedsReview, Paid),
        (NeedsReview, Refunding),
        (Paid, Refunding),
        (PartiallyRefunded, Refunding),
        (Refunding, Refunded),
        (Refunding, PartiallyRefunded),
        (Refunding, Paid),
    ];

    #[test]
    fn every_allowed_transition_is_allowed() {
        for &(from, to) in ALLOWED {
            assert_eq!(from.transition(to), Ok(to), "{from} -> {to}");
        }
    }

    #[test]
    fn every_other_transition_is_forbidden() {
        let mut forbidden = 0;
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                if !ALLOWED.contains(&(from, to)) {
                    forbidden += 1;
                    let err = from.transition(to).expect_err("must be forbidden");
                    assert_eq!((err.from, err.to), (from, to));
                }
            }
        }
        assert_eq!(forbidden, 81 - ALLOWED.len());
    }

    #[test]
    fn nothing_leaves_refunded_and_paid_never_goes_back_to_pending() {
        assert!(OrderStatus::ALL
            .iter()
            .all(|&s| !Refunded.can_transition_to(s)));
        assert!(!Paid.can_transition_to(Pending));
        assert!(!Paid.can_transition_to(Closed));
    }

    #[test]
    fn a_settled_refund_leaves_the_order_where_its_money_is() {
        assert_eq!(OrderStatus::after_refunds(true, 500, 500), Refunding);
        assert_eq!(OrderStatus::after_refunds(false, 500, 500), Refunded);
        assert_eq!(
            OrderStatus::after_refunds(false, 120, 500),
            PartiallyRefunded
        );
        assert_eq!(OrderStatus::after_refunds(false, 0, 500), Paid);
        // Paid twice, one payment refunded: partly refunded.
        assert_eq!(
            OrderStatus::after_refunds(false, 500, 1000),
            PartiallyRefunded
        );
        for s in [Refunded, PartiallyRefunded, Paid] {
            assert!(Refunding.can_transition_to(s));
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        assert_eq!(OrderStatus::parse("PAID"), None);
    }
}
