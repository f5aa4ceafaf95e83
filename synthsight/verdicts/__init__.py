"""What a verdict is (standard library only): the calibration a model carries, the rule that turns a logit row
into a calibrated score and ``ai | uncertain | real``, and what each verdict means in words.

- :mod:`.rule`: the calibration (``ModelSpec.calibration``, imported by the spec) and the verdict rule;
- :mod:`.judge`: one run's verdicts (the scan, its Ray driver, ``explain``, ``eval --tiers``) and the
  weights check that refuses a calibration fitted for another model;
- :mod:`.words`: what the run manifest says each verdict means and what the guarantee assumes.

Fitting a calibration (numpy, scipy, the runtimes) is :mod:`synthsight.calibrate`, above the scanner. Named
``verdicts`` rather than "calibration" because :mod:`synthsight.export.calibration` is the INT8 calibration
data of the export. This ``__init__`` imports nothing.
"""
