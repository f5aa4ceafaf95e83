"""`synthsight audit`: what, besides pixels, separates the classes of a training folder (docs/training.md)."""
