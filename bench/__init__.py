"""Side-by-side benchmarks: each prints ratios measured in one run on this machine."""
