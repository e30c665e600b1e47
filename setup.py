"""Packaging glue that pyproject.toml cannot say: the source folders keep the product card's
names (``core/``, ``gui/``, ``cli/``, ``resources/``) but install under one namespace of ours,
``debias_studio.*``, so the distribution claims no generic top-level import names."""

from setuptools import find_packages, setup

SOURCE_FOLDERS = ("core", "gui", "cli", "resources")

setup(
    packages=[
        f"debias_studio.{name}"
        for name in find_packages(include=[f"{folder}*" for folder in SOURCE_FOLDERS])
    ],
    package_dir={f"debias_studio.{folder}": folder for folder in SOURCE_FOLDERS},
    package_data={
        "debias_studio.resources": ["concepts/*.json", "models/**/*"],  # every bundled model file
        "debias_studio.core": ["py.typed"],
    },
)
