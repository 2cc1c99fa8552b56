"""不动产登记+交易+缴税: real-estate registration, transaction and tax in one window, in parallel (§17)."""
