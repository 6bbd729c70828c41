"""Loaders for the public datasets under the data directory (see ``cmkd_med.config.data_dir``)."""
