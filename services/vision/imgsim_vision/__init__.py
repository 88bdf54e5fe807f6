"""The vision library ingestion and training share: decoding, the model and its backends.

Importing the package imports nothing heavy: TensorFlow comes with `model`, OpenCV and Pillow
with `images`, so a command that only reads `settings` starts fast.
"""
