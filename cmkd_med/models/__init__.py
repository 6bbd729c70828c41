"""Base text encoders (offline providers, the bundled e5 conversion) and the models built on them."""
