"""synthsight: tell AI-generated images from real photographs, at archive scale."""

__version__ = "0.1.0"
