"""Indicators: life circles, SDG 11, the peer-comparable set and equity, computed from an access run."""
