"""Losses, one a module, with the maths in :mod:`cmkd_med.losses.functional`."""
