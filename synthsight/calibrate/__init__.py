"""`synthsight calibrate`: fit a model's calibration on labelled images and store it (:mod:`.run`).

- :mod:`.stats` (numpy/scipy): temperature scaling, NLL, ECE, Brier;
- :mod:`.bounds` (scipy): the finite-sample threshold rule and how many images it needs;
- :mod:`.fit`: a calibration from arrays of logits and labels;
- :mod:`.data`: the calibration images, found, checked against the training files, decoded as a scan decodes;
- :mod:`.store`: the bundle's model.json and every export of the same weights;
- :mod:`.diagram`: the reliability diagram.

What a calibration *is* and how a scan applies it lives in :mod:`synthsight.verdicts` (stdlib only). This
``__init__`` imports nothing.
"""
