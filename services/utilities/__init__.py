"""水电气网联合报装: one application for power, water, gas, telecom and cable TV connections (§18)."""
