"""Model families: statsmodels adapters around exact derivative kernels."""
