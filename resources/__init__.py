"""Data that travels inside the distribution: the concept bank and the bundled demo CLIP.

Read it through ``debias_studio.core.resources``, which finds it with importlib.resources in an
editable checkout and in an installed wheel alike."""
