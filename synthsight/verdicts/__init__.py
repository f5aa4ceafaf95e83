"""Honest verdicts: a calibrated score, a bounded false-accusation rate and an ``uncertain`` band.

- :mod:`.rule` (stdlib only, imported by the spec and every scan): the calibration a model carries
  and the rule that maps a logit row to (calibrated score, raw score, ai | uncertain | real);
- :mod:`.stats` (numpy/scipy): temperature scaling, NLL, ECE, Brier;
- :mod:`.bounds` (scipy): the finite-sample threshold rule and how many images it needs;
- :mod:`.fit`: a calibration from arrays of logits and labels (what ``synthsight calibrate`` stores);
- :mod:`.diagram`: the reliability diagram.

Named ``verdicts`` rather than "calibration" because :mod:`synthsight.export.calibration` is the INT8
calibration data of the export. This ``__init__`` imports nothing, so the scan-side rule stays stdlib-only.
"""
