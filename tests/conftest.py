import minicnn  # noqa: F401  -- first, so OpenBLAS is configured before NumPy loads it
