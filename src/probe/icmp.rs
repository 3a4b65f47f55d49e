//! ICMP echo probe (surge-ping). Being written.
