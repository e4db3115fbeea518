//! Prices and cost (being written).
