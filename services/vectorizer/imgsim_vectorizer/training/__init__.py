"""`imgsim train`: genre, style (and artist) heads on a frozen backbone, saved with their card.

Importing the package imports nothing heavy; TensorFlow comes with the modules that need it.
"""
