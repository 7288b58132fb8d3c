"""Measuring images: the facts of one image, and the six-dimension scorecard of several."""
