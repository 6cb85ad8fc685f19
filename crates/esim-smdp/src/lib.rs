//! The SM-DP service (SGP.02 §2.3, §3.1; DESIGN §4 services layer).
