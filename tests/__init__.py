"""cmkd-med tests (a regular package: medspacy_quickumls installs a top-level `tests` package too)."""
