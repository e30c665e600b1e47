"""The training corpus and evaluation of the bundled demo CLIP (scripts/train_demo_clip.py)."""
