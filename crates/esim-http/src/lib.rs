//! The JSON-over-HTTP binding of the SGP.02 functions (DESIGN §3.4, §4 adapters).
