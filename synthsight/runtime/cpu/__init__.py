"""Exported models on a CPU: what this CPU runs natively (features), the export family of an ONNX file
(family), the precision and runtime a scan uses (precision) and the measurement ``--precision auto`` times
them with (measure).
"""
