"""Opening a dataset: scanning folders, reading manifests, validating images, splits."""
