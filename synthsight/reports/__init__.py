"""What a scan writes and what reads it back: the record schema (record), the report formats (writers), the run
manifest and the --resume check (manifest), --resume itself (resume) and ``synthsight merge`` (merge).

Below the scanner and the review page, which both use it; it imports neither.
"""
