"""Built-in demo data with a planted bias, generated locally (no download), deterministic by seed.

Two kinds, both written as plain PNG files plus ``FOLDER/data/manifest.csv`` (path, label, split,
the true confounder as an attribute column, and a foreground mask per image):

* ``digits``: scikit-learn's real handwritten digits, each class tinted its own colour in the
  ``aligned`` fraction of training images (``color`` column), colours balanced in val/test;
* ``backgrounds``: objects on real texture photos, each class on its own background in the
  ``aligned`` fraction of training images (``background`` column), balanced in val/test.
"""
