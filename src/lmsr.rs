//! Binary LMSR market maker (Hanson's logarithmic market scoring rule).
//!
//! With liquidity `b`, the cost function is `C(q_yes, q_no) = b ln(e^(q_yes/b) + e^(q_no/b))`
//! and the YES price is `p = e^(q_yes/b) / (e^(q_yes/b) + e^(q_no/b))`. The price alone
//! determines the cost of moving it, so the market needs no state beyond `market_prob`:
//! buying YES to move `p -> p'` costs `b ln((1-p)/(1-p'))` and yields
//! `b (logit p' - logit p)` shares; buying NO is the mirror image.

/// Liquidity parameter used by Intellacc markets.
pub const LIQUIDITY: f64 = 1000.0;

/// Prices are stored as DECIMAL(5,4); keep them strictly inside (0, 1).
pub const MIN_PROB: f64 = 0.0001;
pub const MAX_PROB: f64 = 0.9999;

/// The outcome of a trade: what it cost, the shares bought, the new price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    pub cost: f64,
    pub yes_shares: f64,
    pub no_shares: f64,
    pub new_prob: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum TradeError {
    #[error("stake must be a positive amount, got {0}")]
    BadStake(f64),
    #[error("target_prob must be strictly between 0 and 1, got {0}")]
    BadTarget(f64),
    #[error("market price {0} is outside (0, 1)")]
    BadPrice(f64),
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Spends at most `stake` moving the price from `prob` toward `target`, never past it.
pub fn fill(prob: f64, target: f64, stake: f64, b: f64) -> Result<Fill, TradeError> {
    if !(stake.is_finite() && stake > 0.0) {
        return Err(TradeError::BadStake(stake));
    }
    if !(target.is_finite() && target > 0.0 && target < 1.0) {
        return Err(TradeError::BadTarget(target));
    }
    if !(prob.is_finite() && prob > 0.0 && prob < 1.0) {
        return Err(TradeError::BadPrice(prob));
    }
    let target = target.clamp(MIN_PROB, MAX_PROB);
    let decay = (-stake / b).exp();
    let (new_prob, cost) = if target > prob {
        // Buy YES: 1 - p' = (1 - p) e^(-stake/b), capped at the target.
        let reach = 1.0 - (1.0 - prob) * decay;
        if reach >= target {
            (target, b * ((1.0 - prob) / (1.0 - target)).ln())
        } else {
            (reach, stake)
        }
    } else if target < prob {
        // Buy NO: p' = p e^(-stake/b), capped at the target.
        let reach = prob * decay;
        if reach <= target {
            (target, b * (prob / target).ln())
        } else {
            (reach, stake)
        }
    } else {
        (prob, 0.0)
    };
    let new_prob = new_prob.clamp(MIN_PROB, MAX_PROB);
    let delta = b * (logit(new_prob) - logit(prob));
    Ok(Fill {
        cost,
        yes_shares: delta.max(0.0),
        no_shares: (-delta).max(0.0),
        new_prob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_fn(qy: f64, qn: f64, b: f64) -> f64 {
        b * ((qy / b).exp() + (qn / b).exp()).ln()
    }

    #[test]
    fn cost_matches_the_cost_function() {
        // Start at p = 0.5 (q_yes = q_no = 0) and buy YES with 100.
        let f = fill(0.5, 0.9, 100.0, LIQUIDITY).unwrap();
        assert!((f.cost - 100.0).abs() < 1e-9);
        let direct = cost_fn(f.yes_shares, 0.0, LIQUIDITY) - cost_fn(0.0, 0.0, LIQUIDITY);
        assert!((direct - f.cost).abs() < 1e-6, "{direct} vs {}", f.cost);
        let price = (f.yes_shares / LIQUIDITY).exp() / ((f.yes_shares / LIQUIDITY).exp() + 1.0);
        assert!((price - f.new_prob).abs() < 1e-9);
        assert!(f.new_prob > 0.5 && f.new_prob < 0.9);
        assert_eq!(f.no_shares, 0.0);
    }

    #[test]
    fn never_moves_past_the_target_and_charges_less() {
        let f = fill(0.5, 0.51, 1000.0, LIQUIDITY).unwrap();
        assert_eq!(f.new_prob, 0.51);
        assert!(f.cost < 1000.0 && f.cost > 0.0);
        let no = fill(0.7, 0.2, 50.0, LIQUIDITY).unwrap();
        assert!(no.no_shares > 0.0 && no.yes_shares == 0.0);
        assert!(no.new_prob < 0.7 && no.new_prob > 0.2);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(fill(0.5, 0.6, 0.0, LIQUIDITY).is_err());
        assert!(fill(0.5, 0.6, f64::NAN, LIQUIDITY).is_err());
        assert!(fill(0.5, 1.0, 10.0, LIQUIDITY).is_err());
        assert!(fill(0.5, -0.1, 10.0, LIQUIDITY).is_err());
    }

    #[test]
    fn buying_at_the_target_costs_nothing() {
        let f = fill(0.42, 0.42, 10.0, LIQUIDITY).unwrap();
        assert_eq!(f.cost, 0.0);
        assert_eq!(f.yes_shares + f.no_shares, 0.0);
    }
}
