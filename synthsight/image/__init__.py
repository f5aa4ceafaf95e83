"""From a file's bytes to pixels: what counts as an image (formats), bounded reads (read_window), why a decode
failed (decode_failures), and the one preprocessing (preprocess). PIL and numpy only, no torch: decode workers
run it. Importing this package loads nothing; the submodules are imported where needed.
"""
