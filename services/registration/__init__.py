"""企业开办: enterprise opening through one form, fanned out to every department involved."""
