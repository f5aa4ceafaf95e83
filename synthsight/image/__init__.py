"""From a file's bytes to pixels: what counts as an image (formats), bounded reads (read_window), why a decode
failed (decode_failures), the one preprocessing (preprocess), and a PNG without the text chunks Pillow refuses
(png_text). PIL and numpy only, no torch: decode workers run it. Importing this package loads nothing; the
submodules are imported where needed.
"""
